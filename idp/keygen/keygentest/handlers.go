package keygentest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/resetq/resetq/idp/internal/emulator"
)

const (
	jsonAPI      = "application/vnd.api+json"
	authDocs     = "https://keygen.sh/docs/api/authentication/"
	tokenAuthDoc = authDocs + "#token-authentication"
	resetSecret  = "keygentest-password-reset-hmac"
	envHeader    = "Keygen-Environment"
)

// apiError is one JSON:API error object.
type apiError struct {
	Title  string            `json:"title"`
	Detail string            `json:"detail"`
	Code   string            `json:"code,omitempty"`
	Source map[string]string `json:"source,omitempty"`
	Links  map[string]string `json:"links,omitempty"`
}

// writeErrors writes the bare {"errors":[…]} document of the layers in
// front of the controllers: rack-attack and Keygen's middleware.
func writeErrors(w http.ResponseWriter, status int, errs ...apiError) {
	w.Header().Set("Content-Type", jsonAPI+"; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": errs})
}

// render writes a controller's error document, which carries a request id.
func render(w http.ResponseWriter, status int, errs ...apiError) {
	w.Header().Set("Content-Type", jsonAPI+"; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"meta": map[string]string{"id": emulator.NewID()}, "errors": errs})
}

func writeDoc(w http.ResponseWriter, status int, doc any) {
	w.Header().Set("Content-Type", jsonAPI+"; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(doc)
}

func unauthorized(w http.ResponseWriter, detail, code string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="keygen"`)
	about := tokenAuthDoc
	if code == "TOKEN_MISSING" {
		about = authDocs
	}
	render(w, http.StatusUnauthorized, apiError{Title: "Unauthorized", Detail: detail, Code: code,
		Links: map[string]string{"about": about}})
}

// notFound is render_not_found for a missing record: no source.
func notFound(w http.ResponseWriter, model, id string) {
	render(w, http.StatusNotFound, apiError{Title: "Not found",
		Detail: fmt.Sprintf("The requested %s '%s' was not found", model, id), Code: "NOT_FOUND"})
}

func forbidden(w http.ResponseWriter) {
	render(w, http.StatusForbidden, apiError{Title: "Access denied", Detail: "You do not have permission to complete the request"})
}

func badParam(w http.ResponseWriter, pointer, detail string) {
	render(w, http.StatusBadRequest, apiError{Title: "Bad request", Detail: detail, Source: map[string]string{"pointer": pointer}})
}

// defaultBody is what Keygen answers for an injected status.
func defaultBody(w http.ResponseWriter, status int) {
	title := http.StatusText(status)
	render(w, status, apiError{Title: title, Detail: "The request could not be completed", Code: strings.ToUpper(strings.ReplaceAll(title, " ", "_"))})
}

// request is what an endpoint's handler is given once the account and
// environment are known: id is the one the path carries.
type request struct {
	w       http.ResponseWriter
	r       *http.Request
	acct    *Account
	env, id string
	body    []byte
}

// routes are the endpoints under /v1/accounts/{account}/, with their
// handlers, which run under the server's lock; "*" is the id a path can
// carry.
var routes = []endpointRoute{
	{http.MethodPost, "passwords", EndpointPasswords, func(s *Server, q request) { s.passwords(q.w, q.acct, q.body) }},
	{http.MethodPost, "tokens", EndpointTokens, func(s *Server, q request) { s.mint(q.w, q.r, q.acct, q.body) }},
	{http.MethodDelete, "tokens/*", EndpointToken, func(s *Server, q request) { s.revoke(q.w, q.r, q.acct, q.id) }},
	{http.MethodGet, "webhook-endpoints", EndpointWebhookEndpoints, func(s *Server, q request) { s.listEndpoints(q.w, q.r, q.acct, q.env) }},
	{http.MethodGet, "me", EndpointMe, func(s *Server, q request) { s.me(q.w, q.r, q.acct) }},
	{http.MethodGet, "users/*", EndpointUser, func(s *Server, q request) { s.showUser(q.w, q.r, q.acct, q.env, q.id) }},
	{http.MethodPost, "users/*/actions/reset-password", EndpointResetPassword,
		func(s *Server, q request) { s.completeReset(q.w, q.acct, q.id, q.body) }},
}

type endpointRoute struct {
	method, path string
	ep           Endpoint
	serve        func(*Server, request)
}

// unknown is the route of any other path or method; it has no handler.
var unknown = endpointRoute{ep: EndpointUnknown}

// route maps a path under /v1/accounts/{account}/ to its route.
func route(method, path string) (rt endpointRoute, account, id string) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	if len(seg) < 4 || seg[0] != "v1" || seg[1] != "accounts" {
		return unknown, "", ""
	}
	account, rest := seg[2], seg[3:]
	for _, r := range routes {
		if r.method != method {
			continue
		}
		if id, ok := match(strings.Split(r.path, "/"), rest); ok {
			return r, account, id
		}
	}
	return unknown, account, ""
}

// match reports whether a path's segments fit a route's, and the id
// standing for its "*".
func match(route, seg []string) (id string, ok bool) {
	if len(route) != len(seg) {
		return "", false
	}
	for i, r := range route {
		switch {
		case r == "*":
			id = seg[i]
		case r != seg[i]:
			return "", false
		}
	}
	return id, true
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
	rt, accountSeg, id := route(r.Method, r.URL.Path)
	ep := rt.ep
	call, body, rw, ok := s.Intercept(w, r, r.URL.Path, ep)
	defer call.End()
	if !ok {
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
	w.Header().Set("Keygen-Mode", "multiplayer")
	w.Header().Set("Cache-Control", "no-transform, no-store, max-age=0")

	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Keygen-Edition", s.edition)
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
	env, ok := s.environment(w, r, acct)
	if !ok {
		return
	}
	rt.serve(s, request{w: w, r: r, acct: acct, env: env, id: id, body: body})
}

// environment resolves Keygen-Environment once the account is known, as
// CurrentEnvironmentScope does: a header on a server without environments
// is refused, and so is an unknown environment. The caller holds the lock.
func (s *Server) environment(w http.ResponseWriter, r *http.Request, a *Account) (string, bool) {
	if _, ok := r.Header[http.CanonicalHeaderKey(envHeader)]; !ok {
		return "", true
	}
	if s.edition != EditionEE {
		render(w, http.StatusBadRequest, apiError{Title: "Bad request", Detail: "is unsupported",
			Code: "ENVIRONMENT_NOT_SUPPORTED", Source: map[string]string{"header": envHeader}})
		return "", false
	}
	env := r.Header.Get(envHeader)
	if !slices.Contains(a.Environments, env) {
		render(w, http.StatusBadRequest, apiError{Title: "Bad request", Detail: "environment is invalid",
			Code: "ENVIRONMENT_INVALID", Source: map[string]string{"header": envHeader}})
		return "", false
	}
	w.Header().Set(envHeader, env)
	return env, true
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
	if t != nil && t.Revoked {
		t = nil // Keygen deletes a revoked token
	}
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

// passwords is PasswordsController#reset. It never looks at a bearer, so a
// revoked or expired token goes unnoticed here.
func (s *Server) passwords(w http.ResponseWriter, a *Account, body []byte) {
	meta, ok := metaParams(w, body, map[string]string{"email": "string", "deliver": "boolean"}, "email")
	if !ok {
		return
	}
	email := strings.ToLower(meta["email"].(string))
	deliver := meta["deliver"] != false
	rs := Reset{Time: s.Now(), Account: a.ID, Email: email, Deliver: deliver}
	if u := a.users[a.byEmail[email]]; u != nil {
		// PasswordResettable: a new token replaces the old one, so only the
		// newest link works. Banned users get one too.
		raw := randomHex(24) + "v3"
		u.resetHash = hmacHex(raw)
		u.resetSentAt = s.Now()
		rs.Known, rs.Token = true, raw
		s.broadcast(a, u, raw)
	}
	s.resets = append(s.resets, rs)
	w.WriteHeader(http.StatusNoContent)
}

// jsonType names a decoded JSON value as typed_params does.
func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64:
		if v == float64(int64(v)) {
			return "integer"
		}
		return "float"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

// metaParams checks a body of the shape {"meta":{…}} the way typed_params
// does for the forgot-password and reset-password actions: every key
// known, of its type, the required ones present and not blank. It writes
// the 400 and returns false when the body does not fit.
func metaParams(w http.ResponseWriter, body []byte, schema map[string]string, required ...string) (map[string]any, bool) {
	var root map[string]any
	if err := json.Unmarshal(body, &root); err != nil {
		render(w, http.StatusBadRequest, apiError{Title: "Bad request", Detail: "The request data is not valid JSON", Code: "JSON_INVALID"}) // [infer]
		return nil, false
	}
	for _, k := range slices.Sorted(maps.Keys(root)) {
		if k != "meta" {
			badParam(w, "/"+k, "unpermitted parameter")
			return nil, false
		}
	}
	raw, ok := root["meta"]
	if !ok {
		badParam(w, "/meta", "is missing")
		return nil, false
	}
	meta, ok := raw.(map[string]any)
	if !ok {
		badParam(w, "/meta", "type mismatch (received "+jsonType(raw)+" expected object)")
		return nil, false
	}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		want, known := schema[k]
		switch {
		case !known:
			badParam(w, "/meta/"+k, "unpermitted parameter")
			return nil, false
		case jsonType(meta[k]) != want:
			badParam(w, "/meta/"+k, "type mismatch (received "+jsonType(meta[k])+" expected "+want+")")
			return nil, false
		case meta[k] == "":
			badParam(w, "/meta/"+k, "cannot be blank")
			return nil, false
		}
	}
	for _, k := range required {
		if _, ok := meta[k]; !ok {
			badParam(w, "/meta/"+k, "is missing")
			return nil, false
		}
	}
	return meta, true
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
	kind := KindUser
	if u.Role == "admin" {
		kind = KindAdmin
	}
	// Token#set_default_expiry: only a role-user bearer's token expires
	// unless asked; a staff member's never does.
	var expiry time.Time
	if kind == KindUser {
		expiry = s.Now().Add(s.mintedLife)
	}
	if in.Data.Attributes.Expiry != nil {
		expiry = *in.Data.Attributes.Expiry
	}
	value := s.addToken(a, kind, u.ID, expiry, in.Data.Attributes.Name)
	t := a.tokens[value]
	s.mints++
	w.Header().Set("Location", "/v1/accounts/"+a.ID+"/tokens/"+t.ID)
	writeDoc(w, http.StatusCreated, map[string]any{"data": map[string]any{
		"id": t.ID, "type": "tokens",
		"attributes": map[string]any{"kind": t.Kind, "token": t.Value, "expiry": nullableTime(t.Expiry),
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

func nullableTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// revoke is TokensController#revoke: an admin or environment token revokes
// any token, and every bearer its own. The caller holds the lock.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request, a *Account, id string) {
	t, ok := s.authenticate(w, r, a, true)
	if !ok {
		return
	}
	var target *Token
	for _, x := range a.tokens {
		if x.ID == id && !x.Revoked {
			target = x
		}
	}
	switch {
	case target == nil:
		notFound(w, "token", id)
	case t.Kind != KindAdmin && t.Kind != KindEnvironment && target.Bearer != t.Bearer:
		forbidden(w)
	default:
		target.Revoked = true
		w.WriteHeader(http.StatusNoContent)
	}
}

// pageParam reads page[name], a number from 1 to 100 (Pageable), or def
// when absent. It writes the 400 and returns false when it is not one.
func pageParam(w http.ResponseWriter, q url.Values, name string, def int) (int, bool) {
	v := q.Get("page[" + name + "]")
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		render(w, http.StatusBadRequest, apiError{Title: "Bad request",
			Detail: fmt.Sprintf("page %s must be a number between 1 and 100 (got %s)", name, v), Source: map[string]string{"parameter": "page[" + name + "]"}})
		return 0, false
	}
	return n, true
}

// listEndpoints is WebhookEndpointsController#index, paginated as Keygen
// does (page[number] and page[size] up to 100, else the first 10). Admin
// and read-only tokens see every endpoint, a product token its own. The
// caller holds the lock.
func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request, a *Account, env string) {
	t, ok := s.authenticate(w, r, a, true)
	if !ok {
		return
	}
	var seen []*WebhookEndpoint
	for _, e := range a.endpoints {
		// Outside an environment, the global endpoints; inside one, its
		// own and the global ones. [infer] for shared environments
		if e.Environment != "" && e.Environment != env {
			continue
		}
		switch {
		case t.Kind == KindProduct && e.Product != t.Bearer:
			continue
		case t.Kind == KindUser:
			forbidden(w)
			return
		}
		seen = append(seen, e)
	}
	q := r.URL.Query()
	number, ok := pageParam(w, q, "number", 1)
	if !ok {
		return
	}
	size, ok := pageParam(w, q, "size", 10)
	if !ok {
		return
	}
	from := min((number-1)*size, len(seen))
	to := min(from+size, len(seen))
	data := []any{}
	for _, e := range seen[from:to] {
		var product, environment any
		if e.Product != "" {
			product = map[string]string{"type": "products", "id": e.Product}
		}
		if e.Environment != "" {
			environment = map[string]string{"type": "environments", "id": e.Environment}
		}
		data = append(data, map[string]any{
			"id": e.ID, "type": "webhook-endpoints",
			"attributes": map[string]any{"url": e.URL, "subscriptions": e.Subscriptions, "signatureAlgorithm": "ed25519",
				"apiVersion": APIVersion, "created": s.Now().UTC(), "updated": s.Now().UTC()},
			"relationships": map[string]any{
				"account":     map[string]any{"data": map[string]string{"type": "accounts", "id": a.ID}},
				"environment": map[string]any{"data": environment},
				"product":     map[string]any{"data": product},
			},
			"links": map[string]string{"self": "/v1/accounts/" + a.ID + "/webhook-endpoints/" + e.ID},
		})
	}
	writeDoc(w, http.StatusOK, map[string]any{"data": data, "links": map[string]any{}})
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

func (s *Server) showUser(w http.ResponseWriter, r *http.Request, a *Account, env, id string) {
	t, ok := s.authenticate(w, r, a, true)
	if !ok {
		return
	}
	u := findUser(a, strings.ToLower(id))
	visible := u != nil
	if visible {
		// Outside an environment a lookup sees the global users only;
		// inside one, that environment's and the global ones. [infer] for
		// shared environments
		visible = u.Environment == "" || u.Environment == env
	}
	if visible {
		switch t.Kind {
		case KindProduct, KindEnvironment:
			// User.accessible_by: products read only users with role user.
			visible = u.Role == "user"
		case KindUser:
			visible = t.Bearer == u.ID
		}
	}
	if !visible {
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

// completeReset is Users::Actions::PasswordController#reset, checking in
// its order: the user (404), the policy (403 for a protected account's
// managed user), the parameters (400, read only now), the token (404, on
// purpose: a wrong token looks like no user), its age (401), the password
// (422).
func (s *Server) completeReset(w http.ResponseWriter, a *Account, id string, body []byte) {
	u := findUser(a, id)
	if u == nil {
		notFound(w, "user", id)
		return
	}
	if a.Protected && u.Role == "user" && u.Password == "" {
		forbidden(w)
		return
	}
	meta, ok := metaParams(w, body, map[string]string{"passwordResetToken": "string", "newPassword": "string"},
		"passwordResetToken", "newPassword")
	if !ok {
		return
	}
	token, password := meta["passwordResetToken"].(string), meta["newPassword"].(string)
	if u.resetHash == "" || !hmac.Equal([]byte(u.resetHash), []byte(hmacHex(token))) {
		notFound(w, "user", id)
		return
	}
	if s.Now().Sub(u.resetSentAt) > 24*time.Hour {
		render(w, http.StatusUnauthorized, apiError{Title: "Unauthorized", Detail: "is expired",
			Source: map[string]string{"pointer": "/meta/passwordResetToken"}})
		return
	}
	if len(password) < 6 {
		render(w, http.StatusUnprocessableEntity, apiError{Title: "Unprocessable resource", Detail: "is too short (minimum is 6 characters)",
			Code: "PASSWORD_TOO_SHORT", Source: map[string]string{"pointer": "/data/attributes/password"},
			Links: map[string]string{"about": "https://keygen.sh/docs/api/users/#users-object-attrs-password"}})
		return
	}
	u.Password, u.resetHash = password, ""
	for _, t := range a.tokens {
		if t.Bearer == u.ID {
			t.Revoked = true // a reset revokes every token of the user
		}
	}
	writeDoc(w, http.StatusOK, map[string]any{"data": s.userDoc(a, u)})
}
