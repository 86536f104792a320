// Package firebasetest is a Firebase Authentication emulator for resetq's
// tests and `resetq dev`: the Identity Toolkit calls a reset makes
// (sendOobCode as a client and as an admin, accounts:lookup, the project's
// configuration), the admin calls that set users up (accounts, update),
// and the Firebase Auth emulator's own /emulator/v1 calls (oobCodes,
// config), with the fault knobs every emulator has. Its answers are those
// of Google's own Auth emulator (firebase-tools), which the behaves test
// runs against as well, so the two cannot drift apart.
package firebasetest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/resetq/resetq/idp/internal/emulator"
)

// Prefix is the path under which the emulator serves the Identity Toolkit
// API, as Google's does: a provider's base URL is URL()+Prefix.
const Prefix = "/identitytoolkit.googleapis.com"

// AdminToken is the bearer the emulator takes as an admin's, as Google's
// does.
const AdminToken = "owner"

// Endpoints, for faults and the request log.
const (
	EndpointSend     emulator.Endpoint = "send"     // POST …/accounts:sendOobCode
	EndpointLookup   emulator.Endpoint = "lookup"   // POST …/projects/{p}/accounts:lookup
	EndpointSignUp   emulator.Endpoint = "signup"   // POST …/projects/{p}/accounts
	EndpointUpdate   emulator.Endpoint = "update"   // POST …/projects/{p}/accounts:update
	EndpointConfig   emulator.Endpoint = "config"   // GET …/v2/projects/{p}/config
	EndpointOobCodes emulator.Endpoint = "oobcodes" // GET /emulator/v1/projects/{p}/oobCodes
	EndpointEmulator emulator.Endpoint = "emulator" // PATCH /emulator/v1/projects/{p}/config
	EndpointClear    emulator.Endpoint = "clear"    // DELETE /emulator/v1/projects/{p}/accounts
	EndpointUnknown  emulator.Endpoint = "unknown"
)

// User is an account with an email and a password.
type User struct {
	LocalID, Email string
	Disabled       bool
}

// OobCode is a reset mail the emulator "sent" (Google's logs it and lists
// it at /emulator/v1/projects/{p}/oobCodes).
type OobCode struct {
	Email       string `json:"email"`
	RequestType string `json:"requestType"`
	OobCode     string `json:"oobCode"`
	OobLink     string `json:"oobLink"`
}

type project struct {
	users    []*User
	codes    []OobCode
	privacy  bool // email enumeration protection
	disabled bool
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	*emulator.Base

	mu       sync.Mutex
	projects map[string]*project
	accounts map[string]*rsa.PublicKey // service accounts' keys, by email
	tokens   map[string]string         // access tokens issued, to their service account
	issued   int
	// everIssued are the access tokens issued, expired ones too.
	everIssued []string
	owner      bool // the bearer "owner" is an admin's
	refused    map[string]bool
}

// NewServer starts an emulator, as Google's starts: no users, no email
// enumeration protection.
func NewServer() *Server {
	s := &Server{projects: map[string]*project{}, accounts: map[string]*rsa.PublicKey{}, tokens: map[string]string{}, owner: true,
		refused: map[string]bool{}}
	s.Base = emulator.NewBase(writeStatus)
	s.Serve(s.serve)
	return s
}

// BaseURL is what a provider's base_url is set to.
func (s *Server) BaseURL() string { return s.URL() + Prefix }

func (s *Server) project(id string) *project {
	p := s.projects[id]
	if p == nil {
		p = &project{}
		s.projects[id] = p
	}
	return p
}

// AddUser adds an account with email to the project.
func (s *Server) AddUser(projectID, email string) *User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &User{LocalID: newLocalID(), Email: strings.ToLower(email)}
	p := s.project(projectID)
	p.users = append(p.users, u)
	return u
}

// Disable disables or enables an account.
func (s *Server) Disable(u *User, disabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.Disabled = disabled
}

// SetEnumerationProtection turns the project's email enumeration
// protection on or off: on, an unknown address answers 200.
func (s *Server) SetEnumerationProtection(projectID string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.project(projectID).privacy = on
}

// RefuseKey makes the emulator refuse an API key from now on, as Google
// refuses a deleted one.
func (s *Server) RefuseKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused[key] = true
}

// RefuseOwner makes the emulator refuse the bearer "owner", as Google
// does: only service accounts' tokens are an admin's.
func (s *Server) RefuseOwner() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.owner = false
}

// SetDisabled disables the project's Authentication (PROJECT_DISABLED).
func (s *Server) SetDisabled(projectID string, disabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.project(projectID).disabled = disabled
}

// Sample is what AddSampleUsers added.
type Sample struct {
	// Emails are the enabled accounts'; Disabled every tenth's, which
	// resetq skips when it looks users up.
	Emails, Disabled []string
}

// AddSampleUsers adds the n sample users every emulator has.
func (s *Server) AddSampleUsers(projectID string, n int) Sample {
	var out Sample
	out.Emails, out.Disabled = emulator.AddSample(n, func(email string, off bool) {
		s.Disable(s.AddUser(projectID, email), off)
	})
	return out
}

// OobCodes returns the reset mails sent in the project.
func (s *Server) OobCodes(projectID string) []OobCode {
	return emulator.Locked(&s.mu, func() []OobCode { return slices.Clone(s.project(projectID).codes) })
}

// SentTo counts the reset mails sent to email in the project.
func (s *Server) SentTo(projectID, email string) int {
	return emulator.Count(s.OobCodes(projectID), func(c OobCode) bool { return strings.EqualFold(c.Email, email) })
}

var (
	projectPath = regexp.MustCompile(`^/(v1|v2|emulator/v1)/projects/([^/]+)/(accounts:sendOobCode|accounts:lookup|accounts:update|accounts|config|oobCodes)$`)
)

// call is a request routed: its project ("" for a client call), whether an
// admin made it, and the endpoint.
type call struct {
	ep      emulator.Endpoint
	project string
	admin   bool
	key     string
}

func route(r *http.Request) call {
	path := r.URL.Path
	if path == "/token" && r.Method == http.MethodPost {
		return call{ep: EndpointToken}
	}
	if p, ok := strings.CutPrefix(path, Prefix); ok {
		path = p
	} else if !strings.HasPrefix(path, "/emulator/") {
		return call{ep: EndpointUnknown}
	}
	c := call{ep: EndpointUnknown, key: r.URL.Query().Get("key")}
	if c.key == "" {
		c.key = r.Header.Get("X-Goog-Api-Key")
	}
	if path == "/v1/accounts:sendOobCode" && r.Method == http.MethodPost {
		c.ep = EndpointSend
		return c
	}
	m := projectPath.FindStringSubmatch(path)
	if m == nil {
		return c
	}
	c.project, _ = url.PathUnescape(m[2])
	switch v, what := m[1], m[3]; {
	case v == "v1" && what == "accounts:sendOobCode" && r.Method == http.MethodPost:
		c.ep = EndpointSend
	case v == "v1" && what == "accounts:lookup" && r.Method == http.MethodPost:
		c.ep = EndpointLookup
	case v == "v1" && what == "accounts" && r.Method == http.MethodPost:
		c.ep = EndpointSignUp
	case v == "v1" && what == "accounts:update" && r.Method == http.MethodPost:
		c.ep = EndpointUpdate
	case v == "v2" && what == "config" && r.Method == http.MethodGet:
		c.ep = EndpointConfig
	case v == "emulator/v1" && what == "oobCodes" && r.Method == http.MethodGet:
		c.ep = EndpointOobCodes
	case v == "emulator/v1" && what == "config" && r.Method == http.MethodPatch:
		c.ep = EndpointEmulator
	case v == "emulator/v1" && what == "accounts" && r.Method == http.MethodDelete:
		c.ep = EndpointClear
	}
	return c
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	c := route(r)
	ic, body, rw, ok := s.Intercept(w, r, r.URL.Path, c.ep)
	defer ic.End()
	if !ok {
		return
	}
	w = rw
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ep == EndpointUnknown {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"code": 404, "message": "Not Found",
			"errors": []map[string]any{{"message": "Not Found", "reason": "notFound"}}, "status": "NOT_FOUND"}})
		return
	}
	if c.ep == EndpointToken {
		s.token(w, body)
		return
	}
	if !emulatorOwn(c.ep) {
		// Identity Toolkit's own calls need credentials: an admin's
		// bearer, or a key. The emulator takes any key.
		auth := r.Header.Get("Authorization")
		bearer, _ := strings.CutPrefix(auth, "Bearer ")
		switch {
		case s.owner && strings.EqualFold(bearer, AdminToken), s.tokens[bearer] != "":
			c.admin = true
		case auth != "":
			writeUnauthenticated(w)
			return
		case c.key == "":
			writeError(w, http.StatusForbidden, "PERMISSION_DENIED",
				"The request is missing a valid API key.", "forbidden")
			return
		case s.refused[c.key]:
			// Google's answer to a deleted or mistyped key (its emulator
			// takes any key).
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"code": 400,
				"message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
				"details": []map[string]any{{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
					"domain": "googleapis.com", "metadata": map[string]string{"service": "identitytoolkit.googleapis.com"}}}}})
			return
		}
	}
	if c.project == "" {
		c.project = defaultProject
	} else if !c.admin && !emulatorOwn(c.ep) {
		writeBadRequest(w, "INSUFFICIENT_PERMISSION : Only authenticated requests can specify target_project_id.")
		return
	}
	p := s.project(c.project)
	var in map[string]json.RawMessage
	if len(body) > 0 && json.Unmarshal(body, &in) != nil {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.", "parseError")
		return
	}
	switch c.ep {
	case EndpointSend:
		s.send(w, p, c, in)
	case EndpointLookup:
		s.lookup(w, p, c, in)
	case EndpointSignUp:
		s.signUp(w, p, c, in)
	case EndpointUpdate:
		s.update(w, p, c, in)
	case EndpointConfig:
		writeJSON(w, http.StatusOK, configJSON(p))
	case EndpointClear:
		p.users = nil
		writeJSON(w, http.StatusOK, map[string]any{})
	case EndpointOobCodes:
		codes := p.codes
		if codes == nil {
			codes = []OobCode{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"oobCodes": codes})
	case EndpointEmulator:
		var cfg struct {
			EmailPrivacyConfig *struct {
				EnableImprovedEmailPrivacy *bool `json:"enableImprovedEmailPrivacy"`
			} `json:"emailPrivacyConfig"`
		}
		_ = json.Unmarshal(body, &cfg)
		if e := cfg.EmailPrivacyConfig; e != nil && e.EnableImprovedEmailPrivacy != nil {
			p.privacy = *e.EnableImprovedEmailPrivacy
		}
		writeJSON(w, http.StatusOK, map[string]any{"signIn": map[string]any{"allowDuplicateEmails": false},
			"emailPrivacyConfig": map[string]any{"enableImprovedEmailPrivacy": p.privacy}})
	}
}

// emulatorOwn are the emulator's own calls, which need no credentials.
func emulatorOwn(ep emulator.Endpoint) bool {
	return ep == EndpointOobCodes || ep == EndpointEmulator || ep == EndpointClear
}

// defaultProject is the project a client call with a key lands in: the
// emulator's --project (Google's maps every key to it).
const defaultProject = "demo-resetq"

func str(in map[string]json.RawMessage, key string) string {
	var v string
	_ = json.Unmarshal(in[key], &v)
	return v
}

func (s *Server) send(w http.ResponseWriter, p *project, c call, in map[string]json.RawMessage) {
	if p.disabled {
		writeBadRequest(w, "PROJECT_DISABLED")
		return
	}
	typ := str(in, "requestType")
	if typ == "" || typ == "OOB_REQ_TYPE_UNSPECIFIED" {
		writeBadRequest(w, "MISSING_REQ_TYPE")
		return
	}
	var returnLink bool
	_ = json.Unmarshal(in["returnOobLink"], &returnLink)
	if returnLink && !c.admin {
		writeBadRequest(w, "INSUFFICIENT_PERMISSION")
		return
	}
	continueURL := str(in, "continueUrl")
	if continueURL != "" {
		if u, err := url.Parse(continueURL); err != nil || u.Scheme == "" || u.Host == "" {
			writeBadRequest(w, "INVALID_CONTINUE_URI : ((expected an absolute URI with valid scheme and host))")
			return
		}
	}
	if typ != "PASSWORD_RESET" {
		writeError(w, http.StatusNotImplemented, "NOT_IMPLEMENTED", typ, "unimplemented")
		return
	}
	email := strings.ToLower(str(in, "email"))
	if email == "" {
		writeBadRequest(w, "MISSING_EMAIL")
		return
	}
	u := p.byEmail(email)
	if u == nil && p.privacy {
		writeJSON(w, http.StatusOK, map[string]any{"kind": "identitytoolkit#GetOobConfirmationCodeResponse", "email": email})
		return
	}
	if u == nil {
		writeBadRequest(w, "EMAIL_NOT_FOUND")
		return
	}
	code := newOobCode()
	link := fmt.Sprintf("%s/emulator/action?mode=resetPassword&lang=en&oobCode=%s&apiKey=fake-api-key", s.URL(), code)
	if continueURL != "" {
		link += "&continueUrl=" + url.QueryEscape(continueURL)
	}
	p.codes = append(p.codes, OobCode{Email: email, RequestType: typ, OobCode: code, OobLink: link})
	out := map[string]any{"kind": "identitytoolkit#GetOobConfirmationCodeResponse", "email": email}
	if returnLink {
		out["oobCode"], out["oobLink"] = code, link
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) lookup(w http.ResponseWriter, p *project, c call, in map[string]json.RawMessage) {
	var emails, ids []string
	_ = json.Unmarshal(in["email"], &emails)
	_ = json.Unmarshal(in["localId"], &ids)
	var found []map[string]any
	for _, u := range p.users {
		if slices.ContainsFunc(emails, func(e string) bool { return strings.EqualFold(e, u.Email) }) || slices.Contains(ids, u.LocalID) {
			found = append(found, userJSON(u))
		}
	}
	out := map[string]any{"kind": "identitytoolkit#GetAccountInfoResponse"}
	if len(found) > 0 {
		out["users"] = found
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) signUp(w http.ResponseWriter, p *project, c call, in map[string]json.RawMessage) {
	email := strings.ToLower(str(in, "email"))
	if email != "" && p.byEmail(email) != nil {
		writeBadRequest(w, "EMAIL_EXISTS")
		return
	}
	u := &User{LocalID: newLocalID(), Email: email}
	_ = json.Unmarshal(in["disabled"], &u.Disabled)
	p.users = append(p.users, u)
	writeJSON(w, http.StatusOK, map[string]any{"kind": "identitytoolkit#SignupNewUserResponse", "localId": u.LocalID, "email": email})
}

func (s *Server) update(w http.ResponseWriter, p *project, c call, in map[string]json.RawMessage) {
	id := str(in, "localId")
	var u *User
	for _, x := range p.users {
		if x.LocalID == id {
			u = x
		}
	}
	if u == nil {
		writeBadRequest(w, "USER_NOT_FOUND")
		return
	}
	if raw, ok := in["disableUser"]; ok {
		_ = json.Unmarshal(raw, &u.Disabled)
	}
	writeJSON(w, http.StatusOK, map[string]any{"kind": "identitytoolkit#SetAccountInfoResponse", "localId": u.LocalID, "email": u.Email})
}

func (p *project) byEmail(email string) *User {
	for _, u := range p.users {
		if strings.EqualFold(u.Email, email) {
			return u
		}
	}
	return nil
}

func userJSON(u *User) map[string]any {
	out := map[string]any{"localId": u.LocalID, "email": u.Email, "emailVerified": false,
		"providerUserInfo": []map[string]any{{"providerId": "password", "email": u.Email, "federatedId": u.Email, "rawId": u.Email}}}
	if u.Disabled {
		out["disabled"] = true
	}
	return out
}

func configJSON(p *project) map[string]any {
	return map[string]any{"signIn": map[string]any{"allowDuplicateEmails": false}, "blockingFunctions": map[string]any{},
		"emailPrivacyConfig": map[string]any{"enableImprovedEmailPrivacy": p.privacy}}
}

// Google's error document. Identity Toolkit's own errors (400, no status)
// carry the code as the message.
func writeError(w http.ResponseWriter, status int, grpcStatus, message, reason string) {
	e := map[string]any{"code": status, "message": message,
		"errors": []map[string]any{{"message": message, "reason": reason, "domain": "global"}}}
	if grpcStatus != "" {
		e["status"] = grpcStatus
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func writeBadRequest(w http.ResponseWriter, message string) {
	writeError(w, http.StatusBadRequest, "", message, "invalid")
}

func writeUnauthenticated(w http.ResponseWriter) {
	writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access "+
		"token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
		"authError")
}

// writeStatus is the body of an injected status: a proxy's plain page.
func writeStatus(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "%d %s\n", status, http.StatusText(status))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// newLocalID is a uid; Google's are 28 letters and digits, resetq reads
// them as opaque.
func newLocalID() string { return rand.Text() }

func newOobCode() string { return rand.Text() + rand.Text() }

// NewProxy starts a fault proxy (emulator.Proxy) in front of another
// Firebase Auth emulator at target (Google's), its requests named with
// this emulator's endpoints: the conformance suite runs through it
// exactly as against this one.
func NewProxy(target string) (*emulator.Proxy, error) {
	return emulator.NewProxy(target, func(r *http.Request) emulator.Endpoint { return route(r).ep }, writeStatus)
}
