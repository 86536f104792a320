package keygentest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"
)

const (
	jsonAPI     = "application/vnd.api+json"
	authAbout   = "https://keygen.sh/docs/api/authentication/#token-authentication"
	resetSecret = "keygentest-password-reset-hmac"
)

// apiError is one JSON:API error object.
type apiError struct {
	Title  string            `json:"title"`
	Detail string            `json:"detail"`
	Code   string            `json:"code,omitempty"`
	Source map[string]string `json:"source,omitempty"`
	Links  map[string]string `json:"links,omitempty"`
}

// writeErrors writes rack-attack's bare {"errors":[…]} document.
func writeErrors(w http.ResponseWriter, status int, errs ...apiError) {
	w.Header().Set("Content-Type", jsonAPI+"; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": errs})
}

// render writes a controller's error document, which carries a request id.
func render(w http.ResponseWriter, status int, errs ...apiError) {
	w.Header().Set("Content-Type", jsonAPI+"; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"meta": map[string]string{"id": newID()}, "errors": errs})
}

func writeDoc(w http.ResponseWriter, status int, doc any) {
	w.Header().Set("Content-Type", jsonAPI+"; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(doc)
}

func unauthorized(w http.ResponseWriter, detail, code string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="keygen"`)
	render(w, http.StatusUnauthorized, apiError{Title: "Unauthorized", Detail: detail, Code: code,
		Links: map[string]string{"about": authAbout}})
}

func notFound(w http.ResponseWriter, model, id string) {
	render(w, http.StatusNotFound, apiError{Title: "Not found",
		Detail: fmt.Sprintf("The requested %s '%s' was not found", model, id), Code: "NOT_FOUND",
		Source: map[string]string{"parameter": "id"}})
}

// defaultBody is what Keygen answers for an injected status.
func defaultBody(w http.ResponseWriter, status int) {
	title := http.StatusText(status)
	render(w, status, apiError{Title: title, Detail: "The request could not be completed", Code: strings.ToUpper(strings.ReplaceAll(title, " ", "_"))})
}

// route maps a path under /v1/accounts/{account}/ to an endpoint.
func route(method, path string) (ep Endpoint, account, id string) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	if len(seg) < 4 || seg[0] != "v1" || seg[1] != "accounts" {
		return EndpointUnknown, "", ""
	}
	account, rest := seg[2], seg[3:]
	switch {
	case len(rest) == 1 && rest[0] == "passwords" && method == http.MethodPost:
		return EndpointPasswords, account, ""
	case len(rest) == 1 && rest[0] == "tokens" && method == http.MethodPost:
		return EndpointTokens, account, ""
	case len(rest) == 1 && rest[0] == "me" && method == http.MethodGet:
		return EndpointMe, account, ""
	case len(rest) == 2 && rest[0] == "users" && method == http.MethodGet:
		return EndpointUser, account, rest[1]
	case len(rest) == 4 && rest[0] == "users" && rest[2] == "actions" && rest[3] == "reset-password" && method == http.MethodPost:
		return EndpointResetPassword, account, rest[1]
	}
	return EndpointUnknown, account, ""
}

// acceptable reports whether a media type is one the :jsonapi and :json
// routes accept.
func acceptable(header string, empty bool) bool {
	if header == "" {
		return empty
	}
	for _, part := range strings.Split(header, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case jsonAPI, "application/json", "*/*", "application/*":
			return true
		}
	}
	return false
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	ep, accountSeg, id := route(r.Method, r.URL.Path)
	call, rw := s.Begin(w, r, r.URL.Path, ep, body)
	defer call.End()
	if !call.Wait(r) {
		return
	}
	if call.Fault != nil {
		call.WriteFault(rw)
		return
	}
	w = rw

	// Rack::Attack sits at the front of the middleware stack [infer].
	var email string
	switch ep {
	case EndpointPasswords:
		var in struct {
			Meta struct {
				Email string `json:"email"`
			} `json:"meta"`
		}
		_ = json.Unmarshal(body, &in)
		email = in.Meta.Email
	case EndpointTokens:
		email, _, _ = r.BasicAuth()
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	s.mu.Lock()
	if !s.noThrottle {
		if t, count, reset := s.check(s.throttlesFor(ep, r, accountSeg, ip, email, id)); t != nil {
			s.mu.Unlock()
			s.writeThrottled(w, t, count, reset)
			return
		}
	}
	s.mu.Unlock()

	// lib/keygen/middleware.rb: the media types. A POST without a type, or
	// with a form or text type, is read as JSON.
	ct := r.Header.Get("Content-Type")
	ctOK := ct == "" || strings.HasPrefix(ct, "application/x-www-form-urlencoded") ||
		strings.HasPrefix(ct, "text/") || acceptable(ct, true)
	if !acceptable(r.Header.Get("Accept"), true) || !ctOK {
		writeErrors(w, http.StatusBadRequest, apiError{Title: "Bad request",
			Detail: "The mime type of the request is not acceptable (check content-type and accept headers)", Code: "MIME_TYPE_INVALID"})
		return
	}

	// request_migrations.rb: the Keygen-Version header.
	version := APIVersion
	if v := strings.TrimPrefix(strings.TrimSpace(r.Header.Get("Keygen-Version")), "v"); v != "" {
		if !supportedVersion(v) {
			render(w, http.StatusBadRequest, apiError{Title: "Bad request", Detail: "unsupported API version requested",
				Code: "INVALID_API_VERSION", Links: map[string]string{"about": "https://keygen.sh/docs/api/versioning/"}})
			return
		}
		version = v
	}
	w.Header().Set("Keygen-Version", version)
	w.Header().Set("Keygen-Edition", "CE")
	w.Header().Set("Keygen-Mode", "multiplayer")
	w.Header().Set("Cache-Control", "no-transform, no-store, max-age=0")

	s.mu.Lock()
	defer s.mu.Unlock()
	acct := s.accounts[accountSeg]
	if ep == EndpointUnknown {
		render(w, http.StatusNotFound, apiError{Title: "Not found",
			Detail: "The requested endpoint was not found (check your HTTP method, Accept header, and URL path)", Code: "NOT_FOUND"}) // [infer]
		return
	}
	if acct == nil {
		notFound(w, "account", accountSeg)
		return
	}
	w.Header().Set("Keygen-Account", acct.ID)
	switch ep {
	case EndpointPasswords:
		s.passwords(w, r, acct, body)
	case EndpointTokens:
		s.mint(w, r, acct, body)
	case EndpointUser:
		s.showUser(w, r, acct, id)
	case EndpointMe:
		s.me(w, r, acct)
	case EndpointResetPassword:
		s.completeReset(w, acct, id, body)
	}
}

func supportedVersion(v string) bool {
	for _, ok := range []string{"1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8"} {
		if v == ok {
			return true
		}
	}
	return false
}

// authenticate checks a bearer token. required says whether a missing one
// is an error. It writes the 401 and returns nil on failure; the second
// result is false only when it wrote an answer. The caller holds the lock.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, a *Account, required bool) (*Token, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if required {
			unauthorized(w, "You must be authenticated to complete the request", "TOKEN_MISSING") // [infer] detail
			return nil, false
		}
		return nil, true
	}
	value, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		unauthorized(w, "You must be authenticated to complete the request", "TOKEN_MISSING")
		return nil, false
	}
	t := a.tokens[value]
	switch {
	case t == nil && isUUID(value):
		unauthorized(w, "Token format is invalid (make sure that you're providing the token value, not the token's ID)", "TOKEN_FORMAT_INVALID")
		return nil, false
	case t == nil:
		unauthorized(w, "Token must be a valid API token", "TOKEN_INVALID") // [infer] detail
		return nil, false
	case !t.Expiry.IsZero() && !s.Now().Before(t.Expiry):
		unauthorized(w, "Token is expired", "TOKEN_EXPIRED")
		return nil, false
	}
	w.Header().Set("Keygen-Token", t.ID)
	w.Header().Set("Keygen-Bearer", t.Bearer)
	return t, true
}

func isUUID(s string) bool {
	return len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-'
}

func (s *Server) passwords(w http.ResponseWriter, r *http.Request, a *Account, body []byte) {
	if _, ok := s.authenticate(w, r, a, false); !ok {
		return
	}
	var in struct {
		Meta *struct {
			Email   *string `json:"email"`
			Deliver *bool   `json:"deliver"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		render(w, http.StatusBadRequest, apiError{Title: "Bad request", Detail: "The request data is not valid JSON", Code: "JSON_INVALID"}) // [infer]
		return
	}
	if in.Meta == nil || in.Meta.Email == nil || *in.Meta.Email == "" {
		// A typed-params validation error. [infer] no code
		render(w, http.StatusBadRequest, apiError{Title: "Bad request", Detail: "is missing",
			Source: map[string]string{"pointer": "/meta/email"}})
		return
	}
	email := strings.ToLower(*in.Meta.Email)
	deliver := in.Meta.Deliver == nil || *in.Meta.Deliver
	rs := Reset{Time: s.Now(), Account: a.ID, Email: email, Deliver: deliver}
	if u := a.users[a.byEmail[email]]; u != nil {
		// PasswordResettable: a new token replaces the old one, so only the
		// newest link works.
		raw := randomHex(24) + "v3"
		u.resetHash = hmacHex(raw)
		u.resetSentAt = s.Now()
		rs.Known, rs.Token = true, raw
		s.broadcast(a, u, raw)
	}
	s.resets = append(s.resets, rs)
	w.WriteHeader(http.StatusNoContent)
}

func hmacHex(raw string) string {
	m := hmac.New(sha256.New, []byte(resetSecret))
	m.Write([]byte(raw))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Server) mint(w http.ResponseWriter, r *http.Request, a *Account, body []byte) {
	email, password, ok := r.BasicAuth()
	switch {
	case !ok || email == "":
		unauthorized(w, "email is required", "EMAIL_REQUIRED")
		return
	case password == "":
		unauthorized(w, "password is required", "PASSWORD_REQUIRED")
		return
	}
	u := a.users[a.byEmail[strings.ToLower(email)]]
	switch {
	case u == nil:
		unauthorized(w, "email must be valid", "EMAIL_INVALID")
		return
	case u.Password == "":
		unauthorized(w, "user does not have a password set", "PASSWORD_NOT_SUPPORTED")
		return
	case u.Password != password:
		unauthorized(w, "password must be valid", "PASSWORD_INVALID")
		return
	case u.Banned:
		render(w, http.StatusForbidden, apiError{Title: "Access denied", Detail: "User is banned", Code: "USER_BANNED"})
		return
	}
	var in struct {
		Data struct {
			Attributes struct {
				Expiry *time.Time `json:"expiry"`
				Name   string     `json:"name"`
			} `json:"attributes"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &in)
	expiry := s.Now().Add(s.mintedLife)
	if in.Data.Attributes.Expiry != nil {
		expiry = *in.Data.Attributes.Expiry
	}
	kind := KindUser
	if u.Role == "admin" {
		kind = KindAdmin
	}
	value := s.addToken(a, kind, u.ID, expiry, in.Data.Attributes.Name)
	t := a.tokens[value]
	s.mints++
	w.Header().Set("Location", "/v1/accounts/"+a.ID+"/tokens/"+t.ID)
	writeDoc(w, http.StatusCreated, map[string]any{"data": map[string]any{
		"id": t.ID, "type": "tokens",
		"attributes": map[string]any{"kind": t.Kind, "token": t.Value, "expiry": t.Expiry.UTC().Format(time.RFC3339Nano),
			"name": nullable(t.Name), "permissions": []string{"*"}, "created": s.Now().UTC(), "updated": s.Now().UTC()},
		"relationships": map[string]any{
			"account": map[string]any{"data": map[string]string{"type": "accounts", "id": a.ID}},
			"bearer":  map[string]any{"data": map[string]string{"type": "users", "id": u.ID}},
		},
		"links": map[string]string{"self": "/v1/accounts/" + a.ID + "/tokens/" + t.ID},
	}})
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// userDoc is a user resource.
func (s *Server) userDoc(a *Account, u *User) map[string]any {
	status := "ACTIVE"
	if u.Banned {
		status = "BANNED"
	}
	return map[string]any{
		"id": u.ID, "type": "users",
		"attributes": map[string]any{
			"fullName": strings.TrimSpace(u.FirstName + " " + u.LastName), "firstName": nullable(u.FirstName),
			"lastName": nullable(u.LastName), "email": u.Email, "status": status, "role": u.Role,
			"permissions": []string{}, "metadata": map[string]any{}, "created": u.Created.UTC(), "updated": u.Created.UTC(),
		},
		"relationships": map[string]any{"account": map[string]any{"data": map[string]string{"type": "accounts", "id": a.ID}}},
		"links":         map[string]string{"self": "/v1/accounts/" + a.ID + "/users/" + u.ID},
	}
}

// findUser resolves a user by id or, as FindByAliasService does, by email.
func findUser(a *Account, id string) *User {
	if u := a.users[id]; u != nil {
		return u
	}
	return a.users[a.byEmail[strings.ToLower(id)]]
}

func (s *Server) showUser(w http.ResponseWriter, r *http.Request, a *Account, id string) {
	t, ok := s.authenticate(w, r, a, true)
	if !ok {
		return
	}
	u := findUser(a, id)
	// Admin, environment and product tokens read users; a user token reads
	// only its own user, and others are hidden as not found. [infer]
	if u == nil || t.Kind == KindUser && t.Bearer != u.ID {
		notFound(w, "user", id)
		return
	}
	writeDoc(w, http.StatusOK, map[string]any{"data": s.userDoc(a, u)})
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, a *Account) {
	t, ok := s.authenticate(w, r, a, true)
	if !ok {
		return
	}
	if u := a.users[t.Bearer]; u != nil {
		writeDoc(w, http.StatusOK, map[string]any{"data": s.userDoc(a, u)})
		return
	}
	writeDoc(w, http.StatusOK, map[string]any{"data": map[string]any{
		"id": t.Bearer, "type": "products",
		"attributes": map[string]any{"name": a.products[t.Bearer], "metadata": map[string]any{}},
	}})
}

func (s *Server) completeReset(w http.ResponseWriter, a *Account, id string, body []byte) {
	var in struct {
		Meta *struct {
			Token       string `json:"passwordResetToken"`
			NewPassword string `json:"newPassword"`
		} `json:"meta"`
	}
	if json.Unmarshal(body, &in) != nil || in.Meta == nil {
		render(w, http.StatusBadRequest, apiError{Title: "Bad request", Detail: "is missing", Source: map[string]string{"pointer": "/meta"}})
		return
	}
	u := findUser(a, id)
	if u == nil || u.resetHash == "" || !hmac.Equal([]byte(u.resetHash), []byte(hmacHex(in.Meta.Token))) {
		notFound(w, "user", id) // on purpose: a wrong token looks like no user
		return
	}
	if s.Now().Sub(u.resetSentAt) > 24*time.Hour {
		render(w, http.StatusUnauthorized, apiError{Title: "Unauthorized", Detail: "is expired",
			Source: map[string]string{"pointer": "/meta/passwordResetToken"}})
		return
	}
	if a.Protected && u.Role == "user" && u.Password == "" {
		render(w, http.StatusForbidden, apiError{Title: "Access denied", Detail: "You do not have permission to complete the request"})
		return
	}
	if len(in.Meta.NewPassword) < 6 {
		render(w, http.StatusUnprocessableEntity, apiError{Title: "Unprocessable resource", Detail: "is too short (minimum is 6 characters)",
			Code: "PASSWORD_TOO_SHORT", Source: map[string]string{"pointer": "/data/attributes/password"}})
		return
	}
	u.Password, u.resetHash = in.Meta.NewPassword, ""
	for v, t := range a.tokens {
		if t.Bearer == u.ID {
			delete(a.tokens, v) // a reset revokes every token of the user
		}
	}
	writeDoc(w, http.StatusOK, map[string]any{"data": s.userDoc(a, u)})
}
