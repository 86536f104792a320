package keycloaktest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/testhttp"
)

const secret = "emulator-client-secret"

type bundle struct {
	srv  *keycloaktest.Server
	user string // id of alice@example.com
}

func setup(t *testing.T, opts ...keycloaktest.Option) *bundle {
	t.Helper()
	s := keycloaktest.NewServer(opts...)
	t.Cleanup(s.Close)
	s.AddServiceAccount("corp", "resetq", secret)
	s.AddServiceAccount("corp", "viewer", secret, keycloaktest.RoleViewUsers)
	s.AddServiceAccount("corp", "querier", secret, keycloaktest.RoleQueryUsers)
	s.AddServiceAccount("corp", "nobody", secret, "view-clients")
	s.AddClient("corp", keycloaktest.Client{ClientID: "web", Public: true, Enabled: true,
		RedirectURIs: []string{"https://app.example.com/*"}})
	s.AddClient("corp", keycloaktest.Client{ClientID: "old", Public: true, Enabled: false})
	s.AddClient("corp", keycloaktest.Client{ClientID: "nosa", Secret: secret, Enabled: true})
	id := s.AddUser("corp", keycloaktest.User{Username: "Alice", Email: "Alice@Example.com", Enabled: true,
		FirstName: "Alice", LastName: "Liddell", Password: "wonderland"})
	return &bundle{srv: s, user: id}
}

// answer is what the emulator answered.
type answer = testhttp.Answer

func (b *bundle) do(t *testing.T, method, path, bearer string, body string, header ...string) answer {
	t.Helper()
	var h []string
	if bearer != "" {
		h = append(h, "Authorization", "Bearer "+bearer)
	}
	if body != "" {
		h = append(h, "Content-Type", "application/json")
	}
	return testhttp.Do(t, method, b.srv.URL()+path, body, append(h, header...)...)
}

func (b *bundle) token(t *testing.T, realm string, form url.Values) answer {
	t.Helper()
	return b.do(t, http.MethodPost, "/realms/"+realm+"/protocol/openid-connect/token", "", form.Encode(),
		"Content-Type", "application/x-www-form-urlencoded")
}

func (b *bundle) bearer(t *testing.T, client string) string {
	t.Helper()
	a := b.token(t, "corp", url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secret}})
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	a.JSON(t, &tr)
	return tr.AccessToken
}

func TestTokenEndpointAnswersLikeKeycloak(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.AddUser("corp", keycloaktest.User{Username: "pending", Password: "pw", Enabled: true, RequiredActions: []string{"VERIFY_PROFILE"}})
	b.srv.AddUser("corp", keycloaktest.User{Username: "off", Password: "pw", Enabled: false})
	b.srv.AddClient("corp", keycloaktest.Client{ClientID: "cli", Public: true, Enabled: true, DirectAccessGrants: true})

	cc := func(client, sec string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {sec}}
	}
	pw := func(user, pass string) url.Values {
		return url.Values{"grant_type": {"password"}, "client_id": {"cli"}, "username": {user}, "password": {pass}}
	}
	tests := []struct {
		name   string
		form   url.Values
		status int
		body   string
	}{
		{"wrong user password", pw("alice", "nope"), 400, `{"error":"invalid_grant","error_description":"Invalid user credentials"}`},
		{"unknown user", pw("zed", "pw"), 400, `{"error":"invalid_grant","error_description":"Invalid user credentials"}`},
		{"account not set up", pw("pending", "pw"), 400, `{"error":"invalid_grant","error_description":"Account is not fully set up"}`},
		{"disabled admin", pw("off", "pw"), 400, `{"error":"invalid_grant","error_description":"Account disabled"}`},
		{"unknown client", cc("ghost", secret), 401, `{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}`},
		{"wrong secret", cc("resetq", "wrong"), 401, `{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}`},
		{"missing grant_type", url.Values{"client_id": {"resetq"}}, 400, `{"error":"invalid_request","error_description":"Missing form parameter: grant_type"}`},
		{"unknown grant_type", url.Values{"grant_type": {"magic"}}, 400, `{"error":"unsupported_grant_type","error_description":"Unsupported grant_type"}`},
		{"no service account", cc("nosa", secret), 401, `{"error":"unauthorized_client","error_description":"Client not enabled to retrieve service account"}`},
		{"public client credentials", cc("cli", ""), 401, `{"error":"unauthorized_client","error_description":"Public client not allowed to retrieve service account"}`},
		{"bad refresh token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"cli"}, "refresh_token": {"junk"}}, 400,
			`{"error":"invalid_grant","error_description":"Invalid refresh token"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := b.token(t, "corp", tt.form)
			require.Equal(t, tt.status, a.Status)
			require.JSONEq(t, tt.body, a.Body)
		})
	}

	t.Run("form encoding only", func(t *testing.T) {
		a := b.do(t, http.MethodPost, "/realms/corp/protocol/openid-connect/token", "",
			`{"grant_type":"client_credentials"}`)
		require.Equal(t, 400, a.Status)
		require.JSONEq(t, `{"error":"invalid_request","error_description":"Missing form parameter: grant_type"}`, a.Body)
	})

	t.Run("client credentials: 300 s, no refresh token, Keycloak's field order", func(t *testing.T) {
		a := b.token(t, "corp", cc("resetq", secret))
		require.Equal(t, 200, a.Status)
		require.Regexp(t, `^\{"access_token":"[^"]+","expires_in":300,"refresh_expires_in":0,"token_type":"Bearer","not-before-policy":0,"scope":"profile email"\}$`, a.Body)
	})

	t.Run("password grant on master's admin-cli: 60 s with a refresh token", func(t *testing.T) {
		a := b.token(t, "master", url.Values{"grant_type": {"password"}, "client_id": {"admin-cli"},
			"username": {keycloaktest.MasterAdminUser}, "password": {keycloaktest.MasterAdminPassword}})
		require.Equal(t, 200, a.Status, a.Body)
		var tr struct {
			ExpiresIn        int    `json:"expires_in"`
			RefreshExpiresIn int    `json:"refresh_expires_in"`
			RefreshToken     string `json:"refresh_token"`
		}
		a.JSON(t, &tr)
		require.Equal(t, 60, tr.ExpiresIn)
		require.Equal(t, 1800, tr.RefreshExpiresIn)
		require.NotEmpty(t, tr.RefreshToken)

		r := b.token(t, "master", url.Values{"grant_type": {"refresh_token"}, "client_id": {"admin-cli"}, "refresh_token": {tr.RefreshToken}})
		require.Equal(t, 200, r.Status, r.Body)
	})

	t.Run("client secret by HTTP Basic", func(t *testing.T) {
		a := b.do(t, http.MethodPost, "/realms/corp/protocol/openid-connect/token", "", "grant_type=client_credentials",
			"Content-Type", "application/x-www-form-urlencoded", "Authorization", "Basic cmVzZXRxOmVtdWxhdG9yLWNsaWVudC1zZWNyZXQ=")
		require.Equal(t, 200, a.Status, a.Body)
	})
}

func TestAdminAuthenticationAndRealm(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, bearer := range map[string]string{"missing": "", "garbage": "garbage"} {
		a := b.do(t, http.MethodGet, "/admin/realms/corp/users", bearer, "")
		require.Equal(t, 401, a.Status, name)
		require.JSONEq(t, `{"error":"HTTP 401 Unauthorized"}`, a.Body)
		require.Empty(t, a.Header.Get("WWW-Authenticate"), "Keycloak sends no challenge")
	}

	tok := b.bearer(t, "resetq")
	b.srv.ExpireAllTokens()
	a := b.do(t, http.MethodGet, "/admin/realms/corp/users", tok, "")
	require.Equal(t, 401, a.Status, "expired token")
	require.JSONEq(t, `{"error":"HTTP 401 Unauthorized"}`, a.Body)

	tok = b.bearer(t, "resetq")
	a = b.do(t, http.MethodGet, "/admin/realms/Corp/users", tok, "")
	require.Equal(t, 404, a.Status)
	require.JSONEq(t, `{"error":"Realm not found."}`, a.Body, "realm names are case-sensitive")

	b.srv.AddRealm("other")
	a = b.do(t, http.MethodGet, "/admin/realms/other/users", tok, "")
	require.Equal(t, 403, a.Status, "a corp token cannot manage another realm")
	require.JSONEq(t, `{"error":"HTTP 403 Forbidden"}`, a.Body)

	a = b.do(t, http.MethodGet, "/admin/realms/corp/users", b.bearer(t, "nobody"), "")
	require.Equal(t, 403, a.Status, "no role in the users family")
}

func TestTokenLifetimeIsEnforced(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	b := setup(t, keycloaktest.WithClock(func() time.Time { return clock() }))
	tok := b.bearer(t, "resetq")
	require.Equal(t, 200, b.do(t, http.MethodGet, "/admin/realms/corp/users/count", tok, "").Status)
	now = now.Add(299 * time.Second)
	require.Equal(t, 200, b.do(t, http.MethodGet, "/admin/realms/corp/users/count", tok, "").Status)
	now = now.Add(time.Second)
	require.Equal(t, 401, b.do(t, http.MethodGet, "/admin/realms/corp/users/count", tok, "").Status)
}

func TestUserSearchSemantics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.AddUser("corp", keycloaktest.User{Username: "abc", Email: "abc@x.com.np", Enabled: true})
	b.srv.AddUser("corp", keycloaktest.User{Username: "abc2", Email: "abc@x.com.np2", Enabled: true})
	b.srv.AddUser("corp", keycloaktest.User{Username: "bob+test", Email: "bob+test@example.com", Enabled: true})
	tok := b.bearer(t, "resetq")

	list := func(q url.Values) []map[string]any {
		t.Helper()
		a := b.do(t, http.MethodGet, "/admin/realms/corp/users?"+q.Encode(), tok, "")
		require.Equal(t, 200, a.Status, a.Body)
		require.Equal(t, "application/json;charset=UTF-8", a.Header.Get("Content-Type"))
		var out []map[string]any
		a.JSON(t, &out)
		return out
	}
	require.Len(t, list(url.Values{"email": {"abc@x.com.np"}}), 2, "substring match without exact")
	exact := list(url.Values{"email": {"ABC@x.com.np"}, "exact": {"true"}})
	require.Len(t, exact, 1, "exact and case-insensitive")
	require.Equal(t, "abc@x.com.np", exact[0]["email"])

	alice := list(url.Values{"username": {"ALICE"}, "exact": {"true"}})
	require.Len(t, alice, 1)
	require.Equal(t, "alice", alice[0]["username"], "usernames are stored lower-cased")

	require.Empty(t, list(url.Values{"email": {"nobody@example.com"}, "exact": {"true"}}), "no match is [] not 404")

	require.Len(t, list(url.Values{"email": {"bob+test@example.com"}, "exact": {"true"}}), 1, "%2B survives")
	a := b.do(t, http.MethodGet, "/admin/realms/corp/users?exact=true&email=bob+test@example.com", tok, "")
	require.JSONEq(t, `[]`, a.Body, "a bare + arrives as a space")

	require.Len(t, list(url.Values{"search": {`"bob+test@example.com"`}}), 1, "quoted search is exact")
	require.Len(t, list(url.Values{"search": {"abc"}}), 2, "search is a prefix search")
	require.Len(t, list(url.Values{"search": {"*x.com*"}}), 2, "*x* is infix")

	brief := list(url.Values{"username": {"alice"}, "exact": {"true"}, "briefRepresentation": {"true"}})[0]
	require.NotContains(t, brief, "totp")
	require.NotContains(t, brief, "requiredActions")
	require.Equal(t, map[string]any{"manage": true}, brief["access"])
	full := list(url.Values{"username": {"alice"}, "exact": {"true"}})[0]
	require.Contains(t, full, "totp")
	require.Contains(t, full, "notBefore")

	for i := range 120 {
		b.srv.AddUser("corp", keycloaktest.User{Username: "bulk" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), Enabled: true})
	}
	require.Len(t, list(url.Values{}), 100, "max defaults to 100")
	all := b.do(t, http.MethodGet, "/admin/realms/corp/users/count", tok, "")
	require.Equal(t, "124", all.Body)
	require.Len(t, list(url.Values{"first": {"120"}}), 4)
	require.Len(t, list(url.Values{"first": {"0"}, "max": {"2"}}), 2)
	a = b.do(t, http.MethodGet, "/admin/realms/corp/users?max=many", tok, "")
	require.Equal(t, 404, a.Status, "failed parameter conversion is a JAX-RS 404")

	q := b.do(t, http.MethodGet, "/admin/realms/corp/users", b.bearer(t, "querier"), "")
	require.Equal(t, `[]`, q.Body, "query-users opens the route but sees nobody")
	c := b.do(t, http.MethodGet, "/admin/realms/corp/users/count", b.bearer(t, "querier"), "")
	require.Equal(t, "124", c.Body, "…yet counts everybody")

	v := b.do(t, http.MethodGet, "/admin/realms/corp/users?max=1&briefRepresentation=true", b.bearer(t, "viewer"), "")
	require.Contains(t, v.Body, `"access":{"manage":false}`)
}

func TestSingleUserReadNeedsView(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.do(t, http.MethodGet, "/admin/realms/corp/users/"+b.user, b.bearer(t, "viewer"), "")
	require.Equal(t, 200, a.Status)
	var u map[string]any
	a.JSON(t, &u)
	require.Len(t, u["access"], 6)
	require.Equal(t, 403, b.do(t, http.MethodGet, "/admin/realms/corp/users/"+b.user, b.bearer(t, "querier"), "").Status)
	a = b.do(t, http.MethodGet, "/admin/realms/corp/users/00000000-0000-0000-0000-000000000000", b.bearer(t, "viewer"), "")
	require.Equal(t, 404, a.Status)
	require.JSONEq(t, `{"error":"User not found"}`, a.Body)
}

// TestExecuteActionsChecksInKeycloaksOrder sets up requests that break
// several rules at once: the answer must be the one Keycloak checks first
// (keycloak.md §4).
func TestExecuteActionsChecksInKeycloaksOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.srv
	bare := s.AddUser("corp", keycloaktest.User{Username: "bare", Enabled: false}) // no email and disabled
	off := s.AddUser("corp", keycloaktest.User{Username: "off", Email: "off@example.com", Enabled: false})
	missing := "00000000-0000-0000-0000-000000000000"
	manager, viewer, nobody := b.bearer(t, "resetq"), b.bearer(t, "viewer"), b.bearer(t, "nobody")
	path := func(id, query string) string {
		p := "/admin/realms/corp/users/" + id + "/execute-actions-email"
		if query != "" {
			p += "?" + query
		}
		return p
	}
	tests := []struct {
		name, bearer, id, query, body, contentType string
		status                                     int
		want                                       string
	}{
		{"1 bad token beats everything", "garbage", missing, "lifespan=abc", "[", "", 401, `{"error":"HTTP 401 Unauthorized"}`},
		{"2 no users role beats unknown user", nobody, missing, "", `["UPDATE_PASSWORD"]`, "", 403, `{"error":"HTTP 403 Forbidden"}`},
		{"3 unknown user beats missing manage role", viewer, missing, "", `["UPDATE_PASSWORD"]`, "", 404, `{"error":"User not found"}`},
		{"text/plain body", manager, b.user, "", `["UPDATE_PASSWORD"]`, "text/plain", 415, `{"error":"The content-type header value did not match the value in @Consumes"}`},
		{"4 no manage role", viewer, b.user, "", "[", "", 403, `{"error":"HTTP 403 Forbidden"}`},
		{"5 bad JSON beats bad lifespan", manager, bare, "lifespan=abc", "[", "", 400, `{"error":"HTTP 400 Bad Request","error_description":"Cannot parse the JSON"}`},
		{"object body", manager, b.user, "", `{"actions":["UPDATE_PASSWORD"]}`, "", 500, `{"error":"unknown_error","error_description":"For more on this error consult the server log."}`},
		{"6 bad lifespan beats missing email", manager, bare, "lifespan=abc", `["UPDATE_PASSWORD"]`, "", 404, `{"error":"HTTP 404 Not Found"}`},
		{"7 missing email beats disabled", manager, bare, "", `["UPDATE_PASSWORD"]`, "", 400, `{"errorMessage":"User email missing"}`},
		{"7b disabled beats client checks", manager, off, "redirect_uri=https://evil.example/", `["UPDATE_PASSWORD"]`, "", 400, `{"errorMessage":"User is disabled"}`},
		{"8 redirect without client", manager, b.user, "redirect_uri=https://app.example.com/", `["UPDATE_PASSWORD"]`, "", 400, `{"errorMessage":"Client id missing"}`},
		{"8b unknown client", manager, b.user, "client_id=ghost", `["UPDATE_PASSWORD"]`, "", 400, `{"errorMessage":"Client doesn't exist"}`},
		{"8c disabled client", manager, b.user, "client_id=old", `["UPDATE_PASSWORD"]`, "", 400, `{"errorMessage":"Client is not enabled"}`},
		{"9 redirect not allowed beats bad action", manager, b.user, "client_id=web&redirect_uri=https://evil.example/", `["NOPE"]`, "", 400, `{"errorMessage":"Invalid redirect uri."}`},
		{"10 unknown action", manager, b.user, "", `["UPDATE_PASSWORD","NOPE"]`, "", 400, `{"errorMessage":"Provided invalid required actions"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.contentType != "" {
				hdr = []string{"Content-Type", tt.contentType}
			}
			a := b.do(t, http.MethodPut, path(tt.id, tt.query), tt.bearer, tt.body, hdr...)
			require.Equal(t, tt.status, a.Status, a.Body)
			require.JSONEq(t, tt.want, a.Body)
		})
	}
	require.Equal(t, 0, s.TotalResets(), "no failed request sent mail")

	t.Run("11 no SMTP, after every other check", func(t *testing.T) {
		s.SetSMTP("corp", keycloaktest.SMTPOff)
		defer s.SetSMTP("corp", keycloaktest.SMTPOn)
		a := b.do(t, http.MethodPut, path(b.user, ""), manager, `["NOPE"]`)
		require.JSONEq(t, `{"errorMessage":"Provided invalid required actions"}`, a.Body)
		a = b.do(t, http.MethodPut, path(b.user, ""), manager, `["UPDATE_PASSWORD"]`)
		require.Equal(t, 500, a.Status)
		require.JSONEq(t, `{"errorMessage":"Failed to send execute actions email: Invalid sender address 'null'. If the address contains UTF-8 characters in the local part please ensure the SMTP server supports the SMTPUTF8 extension and enable 'Allow UTF-8' in the email realm configuration."}`, a.Body)
		s.SetSMTP("corp", keycloaktest.SMTPOffLegacy)
		a = b.do(t, http.MethodPut, path(b.user, ""), manager, `["UPDATE_PASSWORD"]`)
		require.JSONEq(t, `{"errorMessage":"Failed to send execute actions email"}`, a.Body)
		s.SetSMTP("corp", keycloaktest.SMTPUnreachable)
		a = b.do(t, http.MethodPut, path(b.user, ""), manager, `["UPDATE_PASSWORD"]`)
		require.Equal(t, 500, a.Status)
		require.Contains(t, a.Body, "Failed to send execute actions email: Error when attempting to send the email to the server.")
	})
	require.Equal(t, 0, s.TotalResets())

	t.Run("204 sends one mail with the link settings", func(t *testing.T) {
		a := b.do(t, http.MethodPut, path(b.user, "lifespan=3600&client_id=web&redirect_uri=https://app.example.com/done"), manager, `["UPDATE_PASSWORD"]`)
		require.Equal(t, 204, a.Status)
		require.Empty(t, a.Body)
		require.Equal(t, 1, s.ResetCount(b.user))
		m := s.Mails()[0]
		require.Equal(t, "alice@example.com", m.To)
		require.Equal(t, []string{"UPDATE_PASSWORD"}, m.Actions)
		require.Equal(t, time.Hour, m.Lifespan)
		require.Equal(t, "web", m.ClientID)
		require.NotEmpty(t, m.Link)
	})

	t.Run("empty body and null still send mail", func(t *testing.T) {
		require.Equal(t, 204, b.do(t, http.MethodPut, path(b.user, ""), manager, "").Status)
		require.Equal(t, 204, b.do(t, http.MethodPut, path(b.user, ""), manager, "null").Status)
		require.Equal(t, 3, s.ResetCount(b.user), "Keycloak does not deduplicate")
	})

	t.Run("deprecated reset-password-email", func(t *testing.T) {
		a := b.do(t, http.MethodPut, "/admin/realms/corp/users/"+b.user+"/reset-password-email", manager, "")
		require.Equal(t, 204, a.Status)
		require.Equal(t, []string{"UPDATE_PASSWORD"}, s.Mails()[3].Actions)
	})
}

func TestResetPassword(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.bearer(t, "resetq")
	p := "/admin/realms/corp/users/" + b.user + "/reset-password"
	a := b.do(t, http.MethodPut, p, tok, `{"type":"password","temporary":true}`)
	require.Equal(t, 400, a.Status)
	require.JSONEq(t, `{"error":"No password provided"}`, a.Body)
	a = b.do(t, http.MethodPut, p, tok, `not json`)
	require.JSONEq(t, `{"error":"invalid_request","error_description":"Cannot parse the JSON"}`, a.Body)
	require.Equal(t, 403, b.do(t, http.MethodPut, p, b.bearer(t, "viewer"), `{"value":"x"}`).Status)

	require.Equal(t, 204, b.do(t, http.MethodPut, p, tok, `{"type":"ignored","value":"n3w","temporary":true}`).Status)
	u := b.do(t, http.MethodGet, "/admin/realms/corp/users/"+b.user, tok, "")
	require.Contains(t, u.Body, `"requiredActions":["UPDATE_PASSWORD"]`)
	require.Equal(t, 204, b.do(t, http.MethodPut, p, tok, `{"value":"n3w2","temporary":false}`).Status)
	u = b.do(t, http.MethodGet, "/admin/realms/corp/users/"+b.user, tok, "")
	require.Contains(t, u.Body, `"requiredActions":[]`)
}

func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.do(t, http.MethodGet, "/admin/realms/corp/nothing-here", "", "")
	require.Equal(t, 404, a.Status)
	require.JSONEq(t, `{"error":"Unable to find matching target resource method"}`, a.Body)
	a = b.do(t, http.MethodDelete, "/admin/realms/corp/users/count", "", "")
	require.Equal(t, 404, a.Status, "a known path with the wrong method is 404, not 405")
	require.JSONEq(t, `{"error":"HTTP 404 Not Found"}`, a.Body)

	old := setup(t, keycloaktest.WithPathPrefix("/auth"))
	require.True(t, strings.HasSuffix(old.srv.URL(), "/auth"))
	tok := old.bearer(t, "resetq")
	require.Equal(t, 200, old.do(t, http.MethodGet, "/admin/realms/corp/users/count", tok, "").Status)
	noPrefix := strings.TrimSuffix(old.srv.URL(), "/auth")
	res, err := http.Get(noPrefix + "/realms/corp/protocol/openid-connect/token")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 404, res.StatusCode, "without /auth on an /auth server")
}

func TestFaultKnobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.bearer(t, "resetq")
	count := "/admin/realms/corp/users/count"

	b.srv.FailNext(keycloaktest.EndpointUsersCount, 2, 502, "")
	require.Equal(t, 502, b.do(t, http.MethodGet, count, tok, "").Status)
	require.Equal(t, 502, b.do(t, http.MethodGet, count, tok, "").Status)
	require.Equal(t, 200, b.do(t, http.MethodGet, count, tok, "").Status)
	b.srv.ClearFaults()

	b.srv.RateLimitEvery(keycloaktest.EndpointUsersCount, 3, 2*time.Second)
	var statuses []int
	for range 6 {
		a := b.do(t, http.MethodGet, count, tok, "")
		statuses = append(statuses, a.Status)
		if a.Status == 429 {
			require.Equal(t, "2", a.Header.Get("Retry-After"))
		}
	}
	require.Equal(t, []int{200, 200, 429, 200, 200, 429}, statuses)
	b.srv.ClearFaults()

	b.srv.SetLatency(50 * time.Millisecond)
	start := time.Now()
	b.do(t, http.MethodGet, count, tok, "")
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	b.srv.SetLatency(0)

	log := b.srv.RequestsTo(keycloaktest.EndpointUsersCount)
	require.Len(t, log, 10, "3 faulted + 6 rate-limited + 1 slow")
	require.Equal(t, tok, log[0].Bearer)
	require.Equal(t, 502, log[0].Status)
}

func TestBruteForceProtectionBlocksConcurrentPasswordGrants(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.Update(func() {})
	b.srv.AddClient("corp", keycloaktest.Client{ClientID: "cli", Public: true, Enabled: true, DirectAccessGrants: true})
	b.srv.SetLatency(100 * time.Millisecond)
	r := b.srv.AddRealm("corp")
	b.srv.Update(func() { r.BruteForceProtected = true })

	form := url.Values{"grant_type": {"password"}, "client_id": {"cli"}, "username": {"alice"}, "password": {"wonderland"}}
	results := make(chan int, 4)
	for range 4 {
		go func() { results <- b.token(t, "corp", form).Status }()
	}
	ok := 0
	for range 4 {
		if <-results == 200 {
			ok++
		}
	}
	require.Less(t, ok, 4, "concurrent logins of one user must not all succeed")
	require.GreaterOrEqual(t, b.srv.MaxConcurrentTokenRequests(), 2)
}
