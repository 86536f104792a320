package keycloaktest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/resetq/resetq/idp/internal/emulator"
)

// route maps a path (without prefix) to an endpoint and its parameters.
// known reports whether the path exists at all, for Keycloak's two flavours
// of 404.
func route(method, path string) (ep Endpoint, realm, userID string, known bool) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	want := func(m string) Endpoint {
		if method == m {
			return ep
		}
		return EndpointUnknown
	}
	switch {
	case len(seg) == 5 && seg[0] == "realms" && seg[2] == "protocol" && seg[3] == "openid-connect" && seg[4] == "token":
		ep = EndpointToken
		return want(http.MethodPost), seg[1], "", true
	case len(seg) == 5 && seg[0] == "admin" && seg[1] == "realms" && seg[3] == "events" && seg[4] == "config":
		ep = EndpointEventsConfig
		return want(http.MethodGet), seg[2], "", true
	case len(seg) == 4 && seg[0] == "admin" && seg[1] == "realms" && seg[3] == "admin-events":
		ep = EndpointAdminEvents
		return want(http.MethodGet), seg[2], "", true
	case len(seg) >= 4 && seg[0] == "admin" && seg[1] == "realms" && seg[3] == "users":
		realm = seg[2]
		switch {
		case len(seg) == 4:
			ep = EndpointUsers
			return want(http.MethodGet), realm, "", true
		case len(seg) == 5 && seg[4] == "count":
			ep = EndpointUsersCount
			return want(http.MethodGet), realm, "", true
		case len(seg) == 5:
			ep = EndpointUser
			return want(http.MethodGet), realm, seg[4], true
		case len(seg) == 6:
			switch seg[5] {
			case "execute-actions-email":
				ep = EndpointExecuteActions
			case "reset-password":
				ep = EndpointResetPassword
			case "reset-password-email":
				ep = EndpointResetEmail
			default:
				return EndpointUnknown, "", "", false
			}
			return want(http.MethodPut), realm, seg[4], true
		}
	}
	return EndpointUnknown, "", "", false
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if s.prefix != "" {
		if !strings.HasPrefix(path, s.prefix+"/") {
			proseError(w, http.StatusNotFound, "Unable to find matching target resource method")
			return
		}
		path = strings.TrimPrefix(path, s.prefix)
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	ep, realm, userID, known := route(r.Method, path)
	call, rw := s.Begin(w, r, path, ep, body)
	defer call.End()

	var form url.Values
	grantKey := ""
	s.mu.Lock()
	s.requests++
	if ep == EndpointToken {
		s.tokenReq++
		s.curToken++
		s.maxToken = max(s.maxToken, s.curToken)
		form = parseForm(r, body)
		if form.Get("grant_type") == "password" {
			grantKey = realm + "/" + strings.ToLower(form.Get("username"))
			s.inFlight[grantKey]++
		}
	}
	s.mu.Unlock()
	if ep == EndpointToken {
		defer func() {
			s.mu.Lock()
			s.curToken--
			if grantKey != "" {
				s.inFlight[grantKey]--
			}
			s.mu.Unlock()
		}()
	}

	if !call.Wait(r) {
		return
	}
	if call.Fault != nil {
		call.WriteFault(rw)
		return
	}
	switch {
	case !known:
		proseError(rw, http.StatusNotFound, "Unable to find matching target resource method")
	case ep == EndpointUnknown:
		proseError(rw, http.StatusNotFound, "HTTP 404 Not Found")
	case ep == EndpointToken:
		s.handleToken(rw, r, realm, form, grantKey)
	default:
		s.handleAdmin(rw, r, ep, realm, userID, body)
	}
}

func parseForm(r *http.Request, body []byte) url.Values {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if strings.TrimSpace(ct) != "application/x-www-form-urlencoded" {
		return url.Values{}
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return url.Values{}
	}
	return v
}

// token is an issued access or refresh token.
type token struct {
	value    string
	realm    string
	clientID string
	username string // empty for a service account
	expires  time.Time
}

func randomToken(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// tokenResponse is the token endpoint's answer, in the field order Keycloak
// writes it (keycloak.md §2c).
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshExpiresIn int    `json:"refresh_expires_in"`
	RefreshToken     string `json:"refresh_token,omitempty"`
	TokenType        string `json:"token_type"`
	NotBeforePolicy  int    `json:"not-before-policy"`
	SessionState     string `json:"session_state,omitempty"`
	Scope            string `json:"scope"`
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request, realmName string, form url.Values, grantKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	realm := s.realms[realmName]
	if realm == nil {
		proseError(w, http.StatusNotFound, "Realm does not exist") // [infer] RealmsResource's message
		return
	}
	grant := form.Get("grant_type")
	switch grant {
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "Missing form parameter: grant_type")
		return
	case "password", "client_credentials", "refresh_token":
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant_type")
		return
	}

	clientID, secret, basic := r.BasicAuth()
	if !basic {
		clientID, secret = form.Get("client_id"), form.Get("client_secret")
	}
	c := realm.clients[clientID]
	if c == nil || !c.Enabled {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Invalid client or Invalid client credentials")
		return
	}
	if !c.Public && secret != c.Secret {
		oauthError(w, http.StatusUnauthorized, "unauthorized_client", "Invalid client or Invalid client credentials")
		return
	}

	now := s.Now()
	resp := tokenResponse{TokenType: "Bearer", Scope: "profile email"}
	var username string
	withRefresh := false
	switch grant {
	case "password":
		if !c.DirectAccessGrants {
			oauthError(w, http.StatusBadRequest, "unauthorized_client", "Client not allowed for direct access grants") // [infer]
			return
		}
		u := realm.userByUsername(form.Get("username"))
		if u == nil || u.Password == "" || u.Password != form.Get("password") {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid user credentials")
			return
		}
		if realm.BruteForceProtected && s.inFlight[grantKey] > 1 {
			// Keycloak 26 blocks concurrent logins of one user while
			// brute-force detection is on; the losers look disabled.
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid user credentials")
			return
		}
		if !u.Enabled {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Account disabled")
			return
		}
		if len(u.RequiredActions) > 0 {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Account is not fully set up")
			return
		}
		username, withRefresh = u.Username, true
	case "client_credentials":
		if c.Public {
			oauthError(w, http.StatusUnauthorized, "unauthorized_client", "Public client not allowed to retrieve service account")
			return
		}
		if !c.ServiceAccountEnabled {
			oauthError(w, http.StatusUnauthorized, "unauthorized_client", "Client not enabled to retrieve service account")
			return
		}
		if c.ServiceAccountDisabled {
			oauthError(w, http.StatusUnauthorized, "invalid_request", "User 'service-account-"+c.ClientID+"' disabled")
			return
		}
	case "refresh_token":
		rt := s.refresh[form.Get("refresh_token")]
		if rt == nil || rt.realm != realmName || rt.clientID != clientID || !now.Before(rt.expires) {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid refresh token")
			return
		}
		username, withRefresh = rt.username, true
	}

	at := &token{value: randomToken("eyJhbGciOiJSUzI1NiJ9.", 48), realm: realmName, clientID: clientID,
		username: username, expires: now.Add(realm.TokenLifespan)}
	s.tokens[at.value] = at
	s.issued = append(s.issued, at.value)
	resp.AccessToken = at.value
	resp.ExpiresIn = int(realm.TokenLifespan / time.Second)
	if withRefresh {
		rt := &token{value: randomToken("eyJhbGciOiJIUzUxMiJ9.", 48), realm: realmName, clientID: clientID,
			username: username, expires: now.Add(realm.RefreshLifespan)}
		s.refresh[rt.value] = rt
		resp.RefreshToken = rt.value
		resp.RefreshExpiresIn = int(realm.RefreshLifespan / time.Second)
		resp.SessionState = emulator.NewID()
	}
	writeJSON(w, http.StatusOK, resp)
}

// caller is the authenticated principal of an admin request and its roles on
// the target realm.
type caller struct {
	roles
	realm string
}

// authenticate runs the checks every admin route shares, in Keycloak's
// order: bearer token, target realm, token realm. It writes the error and
// returns nil when a check fails. The caller holds the lock.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, realmName string) (*caller, *Realm) {
	h := r.Header.Get("Authorization")
	t := s.tokens[strings.TrimPrefix(h, "Bearer ")]
	if !strings.HasPrefix(h, "Bearer ") || t == nil || !s.Now().Before(t.expires) {
		proseError(w, http.StatusUnauthorized, "HTTP 401 Unauthorized")
		return nil, nil
	}
	realm := s.realms[realmName]
	if realm == nil {
		proseError(w, http.StatusNotFound, "Realm not found.")
		return nil, nil
	}
	if t.realm != "master" && t.realm != realmName {
		proseError(w, http.StatusForbidden, "HTTP 403 Forbidden")
		return nil, nil
	}
	var grants map[string][]string
	home := s.realms[t.realm]
	if t.username != "" {
		if u := home.userByUsername(t.username); u != nil {
			grants = u.Grants
		}
	} else if c := home.clients[t.clientID]; c != nil {
		grants = c.Grants
	}
	var granted []string
	granted = append(granted, grants[realmName]...)
	granted = append(granted, grants[AllRealms]...)
	return &caller{roles: expand(granted), realm: t.realm}, realm
}

func (s *Server) handleAdmin(w http.ResponseWriter, r *http.Request, ep Endpoint, realmName, userID string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, realm := s.authenticate(w, r, realmName)
	if c == nil {
		return
	}
	switch ep {
	case EndpointUsers:
		s.listUsers(w, r, c, realm)
		return
	case EndpointEventsConfig, EndpointAdminEvents:
		s.events(w, r, ep, c, realm)
		return
	case EndpointUsersCount:
		if !c.query {
			proseError(w, http.StatusForbidden, "HTTP 403 Forbidden")
			return
		}
		q := r.URL.Query()
		writeJSON(w, http.StatusOK, len(filterUsers(realm, q)))
		return
	}

	// Single-user routes: UsersResource.user(id) looks the user up first.
	if !c.query {
		proseError(w, http.StatusForbidden, "HTTP 403 Forbidden")
		return
	}
	u := realm.users[userID]
	if u == nil {
		proseError(w, http.StatusNotFound, "User not found")
		return
	}
	switch ep {
	case EndpointUser:
		if !c.view {
			proseError(w, http.StatusForbidden, "HTTP 403 Forbidden")
			return
		}
		writeJSON(w, http.StatusOK, represent(u, false, c.roles))
	case EndpointExecuteActions, EndpointResetEmail:
		s.executeActions(w, r, c, realm, u, body, ep == EndpointResetEmail)
	case EndpointResetPassword:
		s.resetPassword(w, r, c, u, body)
	}
}

func hasJSONBody(r *http.Request, body []byte) bool {
	if len(body) == 0 {
		return true
	}
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.TrimSpace(ct) == "application/json"
}

func (s *Server) executeActions(w http.ResponseWriter, r *http.Request, c *caller, realm *Realm, u *User, body []byte, legacy bool) {
	// [infer] JAX-RS rejects a non-JSON media type when it matches the
	// resource method, after the locators have found the user.
	if !legacy && !hasJSONBody(r, body) {
		proseError(w, http.StatusUnsupportedMediaType, "The content-type header value did not match the value in @Consumes")
		return
	}
	if !c.manage {
		proseError(w, http.StatusForbidden, "HTTP 403 Forbidden")
		return
	}
	q := r.URL.Query()
	actions := []string{"UPDATE_PASSWORD"}
	lifespan := realm.ActionTokenLifespan
	if !legacy {
		actions = nil
		trimmed := bytes.TrimSpace(body)
		if len(trimmed) > 0 {
			var raw any
			if err := json.Unmarshal(trimmed, &raw); err != nil {
				oauthError(w, http.StatusBadRequest, "HTTP 400 Bad Request", "Cannot parse the JSON")
				return
			}
			if raw != nil {
				if err := json.Unmarshal(trimmed, &actions); err != nil {
					// [infer] Jackson's MismatchedInputException, unhandled.
					unknownError(w, http.StatusInternalServerError)
					return
				}
			}
		}
		if v, ok := q["lifespan"]; ok {
			n, ok := parseInt32(v[0])
			if !ok {
				proseError(w, http.StatusNotFound, "HTTP 404 Not Found")
				return
			}
			lifespan = time.Duration(n) * time.Second
		}
	}
	if u.Email == "" {
		errorMessage(w, http.StatusBadRequest, "User email missing")
		return
	}
	if !u.Enabled {
		errorMessage(w, http.StatusBadRequest, "User is disabled")
		return
	}
	clientID, redirect := q.Get("client_id"), q.Get("redirect_uri")
	if redirect != "" && clientID == "" {
		errorMessage(w, http.StatusBadRequest, "Client id missing")
		return
	}
	if clientID != "" {
		cl := realm.clients[clientID]
		if cl == nil {
			errorMessage(w, http.StatusBadRequest, "Client doesn't exist")
			return
		}
		if !cl.Enabled {
			errorMessage(w, http.StatusBadRequest, "Client is not enabled")
			return
		}
		if redirect != "" && !cl.redirectAllowed(redirect) {
			errorMessage(w, http.StatusBadRequest, "Invalid redirect uri.")
			return
		}
	}
	for _, a := range actions {
		if !realm.hasAction(a) {
			errorMessage(w, http.StatusBadRequest, "Provided invalid required actions")
			return
		}
	}
	switch {
	case realm.SMTP == SMTPTemplateError:
		// Templating comes before the address checks and the relay.
		errorMessage(w, http.StatusInternalServerError, "Failed to send execute actions email: Failed to template email")
		return
	case !realm.AllowUTF8 && !asciiLocalPart(u.Email):
		errorMessage(w, http.StatusInternalServerError, "Failed to send execute actions email: Invalid address '"+u.Email+
			"'. If the address contains UTF-8 characters in the local part please ensure the SMTP server supports the "+
			"SMTPUTF8 extension and enable 'Allow UTF-8' in the email realm configuration.")
		return
	case realm.SMTP == SMTPOff:
		errorMessage(w, http.StatusInternalServerError, "Failed to send execute actions email: Invalid sender address 'null'. "+
			"If the address contains UTF-8 characters in the local part please ensure the SMTP server supports the "+
			"SMTPUTF8 extension and enable 'Allow UTF-8' in the email realm configuration.")
		return
	case realm.SMTP == SMTPOffLegacy:
		errorMessage(w, http.StatusInternalServerError, "Failed to send execute actions email")
		return
	case realm.SMTP == SMTPUnreachable, realm.RefusedRecipients[u.Email]:
		errorMessage(w, http.StatusInternalServerError, smtpFailed)
		return
	}
	link := s.URL() + "/realms/" + realm.Name + "/login-actions/action-token?key=" + randomToken("", 64)
	if clientID != "" {
		link += "&client_id=" + url.QueryEscape(clientID)
	}
	s.mails = append(s.mails, Mail{Time: s.Now(), Realm: realm.Name, UserID: u.ID, To: u.Email, Actions: actions,
		Lifespan: lifespan, ClientID: clientID, RedirectURI: redirect, Link: link})
	if realm.AdminEventsEnabled {
		// UserResource records the event after the mail went out.
		path := "users/" + u.ID + "/execute-actions-email"
		if legacy {
			path = "users/" + u.ID + "/reset-password-email"
		}
		realm.adminEvents = append(realm.adminEvents, adminEvent{ID: emulator.NewID(), Time: s.Now().UnixMilli(),
			RealmID: realm.Name, OperationType: "ACTION", ResourceType: "USER", ResourcePath: path})
	}
	s.resets[u.ID]++
	w.WriteHeader(http.StatusNoContent)
}

// smtpFailed is Keycloak's answer for every failure to hand a mail to the
// relay: unreachable, login refused, throttled, recipient refused.
const smtpFailed = "Failed to send execute actions email: Error when attempting to send the email to the server. " +
	"More information is available in the server log."

// asciiLocalPart reports whether the part of an address before the @ is
// ASCII, which Keycloak requires unless the realm allows UTF-8 mail.
func asciiLocalPart(addr string) bool {
	local, _, _ := strings.Cut(addr, "@")
	for i := 0; i < len(local); i++ {
		if local[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request, c *caller, u *User, body []byte) {
	if !hasJSONBody(r, body) {
		proseError(w, http.StatusUnsupportedMediaType, "The content-type header value did not match the value in @Consumes")
		return
	}
	if !c.manage {
		proseError(w, http.StatusForbidden, "HTTP 403 Forbidden")
		return
	}
	var cred struct {
		Type      string  `json:"type"`
		Value     *string `json:"value"`
		Temporary bool    `json:"temporary"`
	}
	if err := json.Unmarshal(body, &cred); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Cannot parse the JSON")
		return
	}
	if cred.Value == nil {
		proseError(w, http.StatusBadRequest, "No password provided")
		return
	}
	if strings.TrimSpace(*cred.Value) == "" {
		proseError(w, http.StatusBadRequest, "Empty password not allowed") // [infer] shape
		return
	}
	u.Password = *cred.Value
	var kept []string
	for _, a := range u.RequiredActions {
		if a != "UPDATE_PASSWORD" {
			kept = append(kept, a)
		}
	}
	if cred.Temporary {
		kept = append(kept, "UPDATE_PASSWORD")
	}
	u.RequiredActions = kept
	w.WriteHeader(http.StatusNoContent)
}

func parseInt32(s string) (int32, bool) {
	var n int64
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || len(digits) > 10 {
		return 0, false
	}
	for _, ch := range digits {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + int64(ch-'0')
	}
	if neg {
		n = -n
	}
	if n < -1<<31 || n > 1<<31-1 {
		return 0, false
	}
	return int32(n), true
}
