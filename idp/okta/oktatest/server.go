// Package oktatest is an Okta emulator for resetq's tests and `resetq
// dev`: the management API's users (search, get, the reset and
// forgot-password calls), the org authorization server's token endpoint
// for service apps (private_key_jwt), API tokens, Okta's error documents
// and its X-Rate-Limit-* headers, with the fault knobs every emulator has.
// No Okta server can run here: every request and answer of the emulator is
// validated against Okta's own management OpenAPI document (from
// github.com/okta/okta-sdk-golang/v5 v5.0.2) in its tests.
package oktatest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/resetq/resetq/idp/internal/emulator"
)

// Endpoints, for faults and the request log.
const (
	EndpointUsers  emulator.Endpoint = "users"  // GET /api/v1/users
	EndpointUser   emulator.Endpoint = "user"   // GET /api/v1/users/{id or login}
	EndpointReset  emulator.Endpoint = "reset"  // POST /api/v1/users/{id}/lifecycle/reset_password
	EndpointForgot emulator.Endpoint = "forgot" // POST /api/v1/users/{id}/credentials/forgot_password
	EndpointToken  emulator.Endpoint = "token"  // POST /oauth2/v1/token
	EndpointOther  emulator.Endpoint = "other"
)

// User is an Okta user with a password.
type User struct {
	ID, Login, Email string
	// Status is ACTIVE, STAGED, PROVISIONED, SUSPENDED, DEPROVISIONED,
	// RECOVERY, LOCKED_OUT or PASSWORD_EXPIRED.
	Status string
	// Password is the current password; "" once a reset took it away.
	Password string
	// Sessions counts the user's sessions.
	Sessions int
	// SelfService false: the password policy allows no self-service
	// recovery (E0000034 on forgot_password).
	SelfService bool
}

// Mail is a reset mail Okta sent.
type Mail struct {
	UserID, To string
	// Kind is "reset" (an admin's) or "forgot" (self-service).
	Kind string
	Time time.Time
}

type app struct {
	key    *rsa.PublicKey
	kid    string
	scopes []string
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	*emulator.Base

	mu      sync.Mutex
	users   []*User
	mails   []Mail
	tokens  map[string]bool     // API tokens (SSWS)
	apps    map[string]*app     // service apps, by client id
	bearers map[string][]string // access tokens issued, to their scopes
	issued  int
	// everIssued are the access tokens issued, expired ones too.
	everIssued []string
	limit      int // X-Rate-Limit-Limit
	used       int
	jtis       map[string]bool
	// throttled answers the next calls 429 until the reset time.
	throttled int
	resetAt   time.Time
}

// NewServer starts an emulator with no users.
func NewServer() *Server {
	s := &Server{tokens: map[string]bool{}, apps: map[string]*app{}, bearers: map[string][]string{}, jtis: map[string]bool{}, limit: 600}
	s.Base = emulator.NewBase(writeStatus)
	s.Serve(s.serve)
	return s
}

// AddUser adds an active user whose login is their email, with a password.
func (s *Server) AddUser(email string) *User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &User{ID: "00u" + strings.ToLower(rand.Text()[:17]), Login: email, Email: email, Status: "ACTIVE",
		Password: "initial-" + rand.Text()[:8], SelfService: true, Sessions: 1}
	s.users = append(s.users, u)
	return u
}

// Set changes a user under the lock: f may set its status and so on.
func (s *Server) Set(u *User, f func(*User)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(u)
}

// Get returns a copy of a user's state.
func (s *Server) Get(u *User) User {
	return emulator.Locked(&s.mu, func() User { return *u })
}

// AddAPIToken makes token a valid API token (an Org admin's).
func (s *Server) AddAPIToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = true
}

// RevokeAPITokens revokes every API token.
func (s *Server) RevokeAPITokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// AddServiceApp registers a service app with a new key and the scopes it
// was granted, and returns its private key (PKCS#8 PEM) and key id.
func (s *Server) AddServiceApp(clientID string, scopes ...string) (privatePEM []byte, kid string) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err) // the system's randomness failed
	}
	kid = rand.Text()[:12]
	s.mu.Lock()
	s.apps[clientID] = &app{key: &key.PublicKey, kid: kid, scopes: scopes}
	s.mu.Unlock()
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), kid
}

// RemoveServiceApps deletes every service app and the tokens they got.
func (s *Server) RemoveServiceApps() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.apps)
	clear(s.bearers)
}

// Throttle makes the next n management calls answer as Okta does over the
// org's rate limit: 429, E0000047, X-Rate-Limit-Remaining 0 and
// X-Rate-Limit-Reset wait from now.
func (s *Server) Throttle(n int, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttled, s.resetAt = n, s.Now().Add(wait)
}

// ExpireTokens makes every access token issued so far expire.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.bearers)
}

// IssuedTokens returns every access token issued, oldest first.
func (s *Server) IssuedTokens() []string {
	return emulator.Locked(&s.mu, func() []string { return slices.Clone(s.everIssued) })
}

// TokensIssued counts the access tokens issued.
func (s *Server) TokensIssued() int {
	return emulator.Locked(&s.mu, func() int { return s.issued })
}

// Mails returns the reset mails sent.
func (s *Server) Mails() []Mail {
	return emulator.Locked(&s.mu, func() []Mail { return slices.Clone(s.mails) })
}

// SentTo counts the reset mails sent to email.
func (s *Server) SentTo(email string) int {
	return emulator.Count(s.Mails(), func(m Mail) bool { return strings.EqualFold(m.To, email) })
}

// Sample is what AddSampleUsers added.
type Sample struct {
	// Emails are the active users'; Suspended every tenth's, which resetq
	// skips.
	Emails, Suspended []string
}

// AddSampleUsers adds the n sample users every emulator has.
func (s *Server) AddSampleUsers(n int) Sample {
	var out Sample
	out.Emails, out.Suspended = emulator.AddSample(n, func(email string, off bool) {
		if u := s.AddUser(email); off {
			s.Set(u, func(u *User) { u.Status = "SUSPENDED" })
		}
	})
	return out
}

var userPath = regexp.MustCompile(`^/api/v1/users/([^/]+)(/lifecycle/reset_password|/credentials/forgot_password)?$`)

func route(r *http.Request) (emulator.Endpoint, string) {
	p := r.URL.EscapedPath()
	switch {
	case p == "/oauth2/v1/token" && r.Method == http.MethodPost:
		return EndpointToken, ""
	case p == "/api/v1/users" && r.Method == http.MethodGet:
		return EndpointUsers, ""
	}
	m := userPath.FindStringSubmatch(p)
	if m == nil {
		return EndpointOther, ""
	}
	id, _ := url.PathUnescape(m[1])
	switch {
	case m[2] == "" && r.Method == http.MethodGet:
		return EndpointUser, id
	case m[2] == "/lifecycle/reset_password" && r.Method == http.MethodPost:
		return EndpointReset, id
	case m[2] == "/credentials/forgot_password" && r.Method == http.MethodPost:
		return EndpointForgot, id
	}
	return EndpointOther, ""
}

// Route names a request's endpoint, for a proxy.
func Route(r *http.Request) emulator.Endpoint {
	ep, _ := route(r)
	return ep
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	ep, id := route(r)
	call, body, rw, ok := s.Intercept(w, r, r.URL.Path, ep)
	defer call.End()
	if !ok {
		return
	}
	w = rw
	s.mu.Lock()
	defer s.mu.Unlock()
	if ep == EndpointToken {
		s.token(w, body)
		return
	}
	if s.throttled > 0 {
		s.throttled--
		w.Header().Set("X-Rate-Limit-Limit", strconv.Itoa(s.limit))
		w.Header().Set("X-Rate-Limit-Remaining", "0")
		w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(s.resetAt.Add(time.Second-1).Unix(), 10))
		writeError(w, http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests.")
		return
	}
	s.rateHeaders(w)
	scopes, ok := s.authorized(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "E0000011", "Invalid token provided")
		return
	}
	need := "okta.users.read"
	if ep == EndpointReset || ep == EndpointForgot {
		need = "okta.users.manage"
	}
	if scopes != nil && !slices.Contains(scopes, need) {
		writeError(w, http.StatusForbidden, "E0000006", "You do not have permission to perform the requested action")
		return
	}
	switch ep {
	case EndpointUsers:
		s.list(w, r)
	case EndpointUser:
		u := s.find(id)
		if u == nil {
			writeNotFound(w, id)
			return
		}
		writeJSON(w, http.StatusOK, s.userJSON(u))
	case EndpointReset, EndpointForgot:
		s.reset(w, r, ep, id)
	default:
		writeError(w, http.StatusNotFound, "E0000022", "The endpoint does not support the provided HTTP method")
	}
}

// authorized checks the credentials: an API token (every scope: nil) or an
// issued access token (its app's scopes).
func (s *Server) authorized(r *http.Request) (scopes []string, ok bool) {
	auth := r.Header.Get("Authorization")
	if tok, found := strings.CutPrefix(auth, "SSWS "); found {
		return nil, s.tokens[tok]
	}
	if tok, found := strings.CutPrefix(auth, "Bearer "); found && s.bearers[tok] != nil {
		return s.bearers[tok], true
	}
	return nil, false
}

// rateHeaders sends the org's rate-limit headers, as Okta does on every
// answer: a limit per minute, what is left, and when it resets.
func (s *Server) rateHeaders(w http.ResponseWriter) {
	s.used++
	now := s.Now()
	w.Header().Set("X-Rate-Limit-Limit", strconv.Itoa(s.limit))
	w.Header().Set("X-Rate-Limit-Remaining", strconv.Itoa(max(s.limit-s.used%s.limit, 0)))
	w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(now.Truncate(time.Minute).Add(time.Minute).Unix(), 10))
}

func (s *Server) find(key string) *User {
	for _, u := range s.users {
		if u.ID == key || strings.EqualFold(u.Login, key) {
			return u
		}
	}
	return nil
}

var emailSearch = regexp.MustCompile(`^profile\.email eq "((?:[^"\\]|\\.)*)"$`)

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	out := []map[string]any{}
	if search := q.Get("search"); search != "" {
		m := emailSearch.FindStringSubmatch(search)
		if m == nil {
			writeError(w, http.StatusBadRequest, "E0000031", "Invalid search criteria.")
			return
		}
		want := strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(m[1])
		for _, u := range s.users {
			if strings.EqualFold(u.Email, want) {
				out = append(out, s.userJSON(u))
			}
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 {
		limit = 200
	}
	for _, u := range s.users {
		if len(out) < limit && u.Status != "DEPROVISIONED" {
			out = append(out, s.userJSON(u))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request, ep emulator.Endpoint, id string) {
	q := r.URL.Query()
	if ep == EndpointReset && q.Get("sendEmail") == "" {
		writeError(w, http.StatusBadRequest, "E0000001", "Api validation failed: sendEmail")
		return
	}
	u := s.find(id)
	if u == nil || u.ID != id {
		writeNotFound(w, id)
		return
	}
	switch {
	case ep == EndpointReset && !slices.Contains([]string{"ACTIVE", "RECOVERY", "LOCKED_OUT", "PASSWORD_EXPIRED"}, u.Status),
		ep == EndpointForgot && u.Status != "ACTIVE":
		writeError(w, http.StatusForbidden, "E0000038", "This operation is not allowed in the user's current status.")
		return
	case ep == EndpointForgot && !u.SelfService:
		writeError(w, http.StatusForbidden, "E0000034", "Forgot password not allowed on specified user.")
		return
	}
	send := q.Get("sendEmail") != "false"
	kind := "forgot"
	if ep == EndpointReset {
		kind, u.Status, u.Password = "reset", "RECOVERY", ""
		if q.Get("revokeSessions") == "true" {
			u.Sessions = 0
		}
	}
	if !send {
		writeJSON(w, http.StatusOK, map[string]string{"resetPasswordUrl": s.URL() + "/reset_password/" + rand.Text()})
		return
	}
	s.mails = append(s.mails, Mail{UserID: u.ID, To: u.Email, Kind: kind, Time: s.Now()})
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) userJSON(u *User) map[string]any {
	ts := "2026-01-05T10:00:00.000Z"
	out := map[string]any{"id": u.ID, "status": u.Status, "created": ts, "lastUpdated": ts, "statusChanged": ts,
		"activated": nil, "lastLogin": nil, "passwordChanged": ts,
		"type":    map[string]any{"id": "oty1resetqdefault000"},
		"profile": map[string]any{"login": u.Login, "email": u.Email, "firstName": "User", "lastName": "Resetq"},
		"credentials": map[string]any{"password": map[string]any{},
			"provider": map[string]any{"type": "OKTA", "name": "OKTA"}},
		"_links": map[string]any{"self": map[string]any{"href": s.URL() + "/api/v1/users/" + u.ID}},
	}
	if u.Status == "ACTIVE" {
		out["activated"] = ts
	}
	return out
}

// token answers the client credentials grant with a private_key_jwt
// client assertion, as the org authorization server does.
func (s *Server) token(w http.ResponseWriter, body []byte) {
	form, _ := url.ParseQuery(string(body))
	fail := func(code, desc string) {
		status := http.StatusBadRequest
		if code == "invalid_client" {
			status = http.StatusUnauthorized
		}
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	if form.Get("grant_type") != "client_credentials" {
		fail("unsupported_grant_type", "The authorization grant type is not supported by the authorization server.")
		return
	}
	if form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		fail("invalid_client", "Client authentication failed. Either the client or the client credentials are invalid.")
		return
	}
	a := s.apps[form.Get("client_id")]
	if a == nil || !s.verify(form.Get("client_assertion"), form.Get("client_id"), a) {
		fail("invalid_client", "The client_assertion signature is invalid.")
		return
	}
	for _, sc := range strings.Fields(form.Get("scope")) {
		if !slices.Contains(a.scopes, sc) {
			fail("invalid_scope", "The following scopes are not allowed: "+sc)
			return
		}
	}
	tok := "eyJ" + rand.Text() + rand.Text()
	s.bearers[tok] = append([]string{}, strings.Fields(form.Get("scope"))...)
	s.issued++
	s.everIssued = append(s.everIssued, tok)
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3600, "access_token": tok, "scope": form.Get("scope")})
}

// verify checks a client assertion: RS256 by the app's key, iss and sub
// the client, aud the token endpoint, not expired, its jti unused.
func (s *Server) verify(jwt, clientID string, a *app) bool {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return false
	}
	var h struct{ Alg, Kid string }
	var c struct {
		Iss, Sub, Aud, Jti string
		Exp                int64
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		return false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch {
	case h.Alg != "RS256", h.Kid != "" && h.Kid != a.kid:
		return false
	case c.Iss != clientID, c.Sub != clientID, c.Aud != s.URL()+"/oauth2/v1/token", c.Exp < s.Now().Unix(), s.jtis[c.Jti]:
		return false
	case rsa.VerifyPKCS1v15(a.key, crypto.SHA256, sum[:], sig) != nil:
		return false
	}
	s.jtis[c.Jti] = true
	return true
}

// Okta's error document.
func writeError(w http.ResponseWriter, status int, code, summary string) {
	writeJSON(w, status, map[string]any{"errorCode": code, "errorSummary": summary, "errorLink": code,
		"errorId": "oae" + rand.Text()[:19], "errorCauses": []any{}})
}

func writeNotFound(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, "E0000007", fmt.Sprintf("Not found: Resource not found: %s (User)", id))
}

// writeStatus is the body of an injected status: Okta's document for a
// 429 (E0000047), a proxy's page for anything else.
func writeStatus(w http.ResponseWriter, status int) {
	if status == http.StatusTooManyRequests {
		writeError(w, status, "E0000047", "API call exceeded rate limit due to too many requests.")
		return
	}
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", status, http.StatusText(status))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
