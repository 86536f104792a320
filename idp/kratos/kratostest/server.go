// Package kratostest is an Ory Kratos emulator: the self-service recovery
// flow (API flows, link and code methods), the admin identities API and
// the courier's message list, with the fault knobs every emulator has. Its
// answers are the ones the real Kratos v1.3.1 gives, as
// internal/realidp's e2e tests pin them down; the conformance suite runs
// the provider against both.
package kratostest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/resetq/resetq/idp/internal/emulator"
)

// Endpoints, for faults and the request log.
const (
	EndpointInit       emulator.Endpoint = "recovery-init"   // GET /self-service/recovery/api
	EndpointSubmit     emulator.Endpoint = "recovery-submit" // POST /self-service/recovery?flow=
	EndpointLink       emulator.Endpoint = "recovery-link"   // GET /self-service/recovery?flow=&token=
	EndpointIdentity   emulator.Endpoint = "identity"        // GET /admin/identities/{id}
	EndpointIdentities emulator.Endpoint = "identities"      // GET /admin/identities
	EndpointCourier    emulator.Endpoint = "courier"         // GET /admin/courier/messages
	EndpointUnknown    emulator.Endpoint = "unknown"
)

// Identity is an identity with one email trait, its recovery address.
type Identity struct {
	ID, Email string
	// State is "active" or "inactive".
	State string
}

// Message is a mail the courier sent.
type Message struct {
	Recipient string
	// Template is recovery_valid (a link) or recovery_code_valid.
	Template string
	// Link or Code is what the mail carries; FlowID the flow it belongs
	// to (from the transient payload, as a custom template would show).
	Link, Code, FlowID string
	Time               time.Time
}

type flow struct {
	id      string
	method  string
	state   string
	expires time.Time
	code    string // the code mailed in this flow
	token   string // the link's token
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	*emulator.Base

	mu         sync.Mutex
	identities []*Identity
	flows      map[string]*flow
	messages   []Message
	use        string
	link, code bool
	recovery   bool
	adminToken string
}

// NewServer starts an emulator as Kratos is by default, but for the link
// method, which resetq needs and is enabled: recovery on, its pages using
// code, no admin token.
func NewServer() *Server {
	s := &Server{flows: map[string]*flow{}, use: "code", link: true, code: true, recovery: true}
	s.Base = emulator.NewBase(writeStatus)
	s.Serve(s.serve)
	return s
}

// AddIdentity adds an active identity whose email is its recovery address.
func (s *Server) AddIdentity(email string) *Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := &Identity{ID: emulator.NewID(), Email: email, State: "active"}
	s.identities = append(s.identities, id)
	return id
}

// Sample is what AddSampleUsers added.
type Sample struct {
	// Emails are the active identities'; Inactive every tenth's, which
	// resetq skips.
	Emails, Inactive []string
}

// AddSampleUsers adds the n sample users every emulator has
// (emulator.SampleUsers), the ones marked off inactive.
func (s *Server) AddSampleUsers(n int) Sample {
	var out Sample
	out.Emails, out.Inactive = emulator.AddSample(n, func(email string, off bool) {
		if id := s.AddIdentity(email); off {
			s.SetState(id, "inactive")
		}
	})
	return out
}

// SetState makes an identity active or inactive.
func (s *Server) SetState(id *Identity, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id.State = state
}

// SetMethods sets the method the recovery pages use and which methods are
// enabled.
func (s *Server) SetMethods(use string, link, code bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.use, s.link, s.code = use, link, code
}

// SetRecovery turns account recovery on or off.
func (s *Server) SetRecovery(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recovery = on
}

// SetAdminToken makes the admin API require this bearer ("" for none, as
// a self-hosted admin API behind the network).
func (s *Server) SetAdminToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adminToken = token
}

// Messages returns the mails sent so far.
func (s *Server) Messages() []Message {
	return emulator.Locked(&s.mu, func() []Message { return slices.Clone(s.messages) })
}

// SentTo counts the mails sent to email.
func (s *Server) SentTo(email string) int {
	return emulator.Count(s.Messages(), func(m Message) bool { return strings.EqualFold(m.Recipient, email) })
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	ep := route(r)
	call, body, rw, ok := s.Intercept(w, r, r.URL.Path, ep)
	defer call.End()
	if !ok {
		return
	}
	w = rw
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ep {
	case EndpointInit:
		s.initFlow(w)
	case EndpointSubmit:
		s.submit(w, r, body)
	case EndpointLink:
		s.openLink(w, r)
	case EndpointIdentity, EndpointIdentities, EndpointCourier:
		s.admin(w, r, ep)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("404 page not found\n"))
	}
}

func route(r *http.Request) emulator.Endpoint {
	p := r.URL.Path
	switch {
	case p == "/self-service/recovery/api" && r.Method == http.MethodGet:
		return EndpointInit
	case p == "/self-service/recovery" && r.Method == http.MethodPost:
		return EndpointSubmit
	case p == "/self-service/recovery" && r.Method == http.MethodGet && r.URL.Query().Get("token") != "":
		return EndpointLink
	case p == "/admin/identities" && r.Method == http.MethodGet:
		return EndpointIdentities
	case strings.HasPrefix(p, "/admin/identities/") && r.Method == http.MethodGet:
		return EndpointIdentity
	case p == "/admin/courier/messages" && r.Method == http.MethodGet:
		return EndpointCourier
	}
	return EndpointUnknown
}

// The generic error document, and the answers the real server gives.
func writeError(w http.ResponseWriter, status int, id, reason, message string) {
	e := map[string]any{"code": status, "status": http.StatusText(status), "message": message}
	if id != "" {
		e["id"] = id
	}
	if reason != "" {
		e["reason"] = reason
	}
	writeJSON(w, status, map[string]any{"error": e})
}

// writeStatus is the body of an injected status: a proxy's plain page.
func writeStatus(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "%d %s\n", status, http.StatusText(status))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "private, no-cache, no-store, must-revalidate")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) flowJSON(f *flow, nodes []map[string]any, messages []map[string]any) map[string]any {
	out := map[string]any{
		"id": f.id, "type": "api", "state": f.state, "active": f.method,
		"expires_at": f.expires.UTC().Format(time.RFC3339Nano), "request_url": s.URL() + "/self-service/recovery/api",
		"ui": map[string]any{"action": s.URL() + "/self-service/recovery?flow=" + f.id, "method": "POST",
			"nodes": nodes, "messages": messages},
	}
	return out
}

func node(name, typ string, value any, messages ...map[string]any) map[string]any {
	attrs := map[string]any{"name": name, "type": typ, "node_type": "input", "disabled": false}
	if value != nil {
		attrs["value"] = value
	}
	if messages == nil {
		messages = []map[string]any{}
	}
	return map[string]any{"type": "input", "group": "default", "attributes": attrs, "messages": messages, "meta": map[string]any{}}
}

func message(id int, text string) map[string]any {
	return map[string]any{"id": id, "type": "error", "text": text}
}

func (s *Server) initFlow(w http.ResponseWriter) {
	if !s.recovery {
		writeError(w, http.StatusBadRequest, "", "Recovery is not allowed because it was disabled.",
			"The request was malformed or contained invalid parameters")
		return
	}
	f := &flow{id: emulator.NewID(), method: s.use, state: "choose_method", expires: s.Now().Add(15 * time.Minute)}
	s.flows[f.id] = f
	writeJSON(w, http.StatusOK, s.flowJSON(f, []map[string]any{node("email", "email", nil), node("method", "submit", f.method)}, nil))
}

func (s *Server) findFlow(w http.ResponseWriter, r *http.Request) *flow {
	id := r.URL.Query().Get("flow")
	if id == "" || id == "00000000-0000-0000-0000-000000000000" {
		writeError(w, http.StatusBadRequest, "", "The flow query parameter is missing or malformed.",
			"The request was malformed or contained invalid parameters")
		return nil
	}
	f := s.flows[id]
	if f == nil {
		writeError(w, http.StatusNotFound, "", "The recovery request could not be found. Please restart the flow.",
			"The requested resource could not be found")
		return nil
	}
	if s.Now().After(f.expires) {
		writeError(w, http.StatusGone, "self_service_flow_expired", "The recovery flow has expired.", "The flow has expired")
		return nil
	}
	return f
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request, body []byte) {
	f := s.findFlow(w, r)
	if f == nil {
		return
	}
	var in struct {
		Method, Email, Code string
		TransientPayload    map[string]any `json:"transient_payload"`
	}
	_ = json.Unmarshal(body, &in)
	switch {
	case in.Method == "link" && !s.link:
		writeError(w, http.StatusNotFound, "", "This endpoint was disabled by system administrator. Please check your url "+
			"or contact the system administrator to enable it.", "The requested resource could not be found")
		return
	case in.Method != "link" && in.Method != "code", in.Method == "code" && !s.code:
		f.method = "default"
		writeJSON(w, http.StatusBadRequest, s.flowJSON(f, nil, []map[string]any{
			message(4010005, "Could not find a strategy to recover your account with. Did you fill out the form correctly?")}))
		return
	case in.Code != "" && f.state == "sent_email":
		if in.Code != f.code { // 200, the message on the form
			writeJSON(w, http.StatusOK, s.flowJSON(f, nil, []map[string]any{
				message(4060006, "The recovery code is invalid or has already been used. Please try again.")}))
			return
		}
		f.state = "passed_challenge"
		settings := "https://www.ory.sh/kratos/docs/fallback/settings?flow=" + emulator.NewID()
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error": map[string]any{"id": "browser_location_change_required", "code": 422, "status": "Unprocessable Entity",
				"reason": "In order to complete this flow please redirect the browser to: " + settings},
			"redirect_browser_to": settings})
		return
	case in.Email == "":
		writeJSON(w, http.StatusBadRequest, s.flowJSON(f, []map[string]any{node("email", "email", nil,
			message(4000002, "Property email is missing."))}, nil))
		return
	case !validEmail(in.Email):
		writeJSON(w, http.StatusBadRequest, s.flowJSON(f, []map[string]any{node("email", "email", in.Email,
			message(4000001, fmt.Sprintf("%q is not valid \"email\"", in.Email)))}, nil))
		return
	}
	f.method, f.state = in.Method, "sent_email"
	flowID, _ := in.TransientPayload["flow_id"].(string)
	if id := s.byEmail(in.Email); id != nil {
		m := Message{Recipient: id.Email, FlowID: flowID, Time: s.Now()}
		if in.Method == "link" {
			f.token = randomDigits(32)
			m.Template, m.Link = "recovery_valid", s.URL()+"/self-service/recovery?flow="+f.id+"&token="+f.token
		} else {
			f.code = randomDigits(6)
			m.Template, m.Code = "recovery_code_valid", f.code
		}
		s.messages = append(s.messages, m)
	}
	writeJSON(w, http.StatusOK, s.flowJSON(f, []map[string]any{node("email", "submit", in.Email)}, []map[string]any{
		{"id": 1060002, "type": "info", "text": "An email containing a recovery link has been sent to the email address you provided."}}))
}

// openLink is the user following the mailed link: signed in, and sent to
// the settings flow.
func (s *Server) openLink(w http.ResponseWriter, r *http.Request) {
	f := s.flows[r.URL.Query().Get("flow")]
	if f == nil || f.token == "" || r.URL.Query().Get("token") != f.token || s.Now().After(f.expires) {
		http.Redirect(w, r, "https://www.ory.sh/kratos/docs/fallback/recovery?flow="+emulator.NewID(), http.StatusSeeOther)
		return
	}
	f.token, f.state = "", "passed_challenge"
	http.SetCookie(w, &http.Cookie{Name: "ory_kratos_session", Value: randomDigits(32), Path: "/", HttpOnly: true})
	http.Redirect(w, r, "https://www.ory.sh/kratos/docs/fallback/settings?flow="+emulator.NewID(), http.StatusSeeOther)
}

func (s *Server) admin(w http.ResponseWriter, r *http.Request, ep emulator.Endpoint) {
	if s.adminToken != "" && r.Header.Get("Authorization") != "Bearer "+s.adminToken {
		writeError(w, http.StatusUnauthorized, "", "", "The request could not be authorized")
		return
	}
	switch ep {
	case EndpointIdentities:
		want := r.URL.Query().Get("credentials_identifier")
		out := []map[string]any{}
		for _, id := range s.identities {
			if want == "" || strings.EqualFold(id.Email, want) {
				out = append(out, identityJSON(id))
			}
		}
		if n := r.URL.Query().Get("page_size"); n == "1" && len(out) > 1 {
			out = out[:1]
		}
		writeJSON(w, http.StatusOK, out)
	case EndpointIdentity:
		id := s.byID(strings.TrimPrefix(r.URL.Path, "/admin/identities/"))
		if id == nil {
			writeError(w, http.StatusNotFound, "", "", "Unable to locate the resource")
			return
		}
		writeJSON(w, http.StatusOK, identityJSON(id))
	case EndpointCourier:
		out := []map[string]any{}
		for _, m := range slices.Backward(s.messages) {
			out = append(out, map[string]any{"id": emulator.NewID(), "recipient": m.Recipient, "template_type": m.Template, "status": "sent"})
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func identityJSON(id *Identity) map[string]any {
	addr := []map[string]any{{"id": id.ID, "value": id.Email, "via": "email"}}
	return map[string]any{"id": id.ID, "schema_id": "user", "state": id.State,
		"traits": map[string]any{"email": id.Email}, "recovery_addresses": addr}
}

func (s *Server) byEmail(email string) *Identity {
	for _, id := range s.identities {
		if strings.EqualFold(id.Email, email) {
			return id
		}
	}
	return nil
}

func (s *Server) byID(raw string) *Identity {
	raw, _ = url.PathUnescape(raw)
	for _, id := range s.identities {
		if id.ID == raw {
			return id
		}
	}
	return nil
}

// validEmail is the email format's check, as far as the emulator needs it.
func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n")
}

func randomDigits(n int) string {
	var b strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String()
}

// NewProxy starts a fault proxy (emulator.Proxy) in front of a real Kratos
// at target, its requests named with this emulator's endpoints: the
// conformance suite runs through it exactly as against the emulator. Put
// one in front of each of Kratos' ports.
func NewProxy(target string) (*emulator.Proxy, error) {
	return emulator.NewProxy(target, route, writeStatus)
}
