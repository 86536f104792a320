package keycloak_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/worker"
)

// canned is a server that answers the token endpoint and the admin API with
// fixed responses, to pin down how each answer Keycloak can give is read.
type canned struct {
	tokenStatus int
	tokenBody   string
	adminStatus int
	adminBody   string
	header      http.Header
	tokenCalls  atomic.Int32
	adminCalls  atomic.Int32
}

func (c *canned) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k, v := range c.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	if strings.HasSuffix(r.URL.Path, "/protocol/openid-connect/token") {
		c.tokenCalls.Add(1)
		if c.tokenStatus == 0 {
			_, _ = w.Write([]byte(`{"access_token":"tok","expires_in":300,"refresh_expires_in":0,"token_type":"Bearer","not-before-policy":0,"scope":"profile email"}`))
			return
		}
		w.WriteHeader(c.tokenStatus)
		_, _ = w.Write([]byte(c.tokenBody))
		return
	}
	c.adminCalls.Add(1)
	w.WriteHeader(c.adminStatus)
	_, _ = w.Write([]byte(c.adminBody))
}

func newProvider(t *testing.T, baseURL string, mutate ...func(*keycloak.Config)) *keycloak.Provider {
	t.Helper()
	cfg := keycloak.Config{BaseURL: baseURL, Realm: "corp", ClientID: "resetq", ClientSecret: "s3cr3t-client", Timeout: 5 * time.Second}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := keycloak.New(cfg)
	require.NoError(t, err)
	return p
}

func TestClassificationOfEveryKeycloakAnswer(t *testing.T) {
	t.Parallel()
	type row struct {
		name        string
		grant       string
		tokenStatus int
		tokenBody   string
		adminStatus int
		adminBody   string
		header      http.Header
		user        idp.UserRef
		want        worker.Action
		reason      string
		retryAfter  time.Duration
		hint        string
	}
	id := idp.UserRef{ID: "6a1c1b52-7c1e-4a54-8d86-1b0fbe0b0c11"}
	email := idp.UserRef{Email: "alice@example.com"}
	rows := []row{
		// keycloak.md §2d: the token endpoint.
		{name: "2d wrong user password", grant: keycloak.GrantPassword, tokenStatus: 400,
			tokenBody: `{"error":"invalid_grant","error_description":"Invalid user credentials"}`,
			want:      worker.Halt, reason: "credentials_rejected", hint: "password"},
		{name: "2d unknown client_id", tokenStatus: 401,
			tokenBody: `{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}`,
			want:      worker.Halt, reason: "credentials_rejected", hint: "auth.client_id"},
		{name: "2d wrong client secret", tokenStatus: 401,
			tokenBody: `{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}`,
			want:      worker.Halt, reason: "credentials_rejected", hint: "auth.client_secret"},
		{name: "2d missing grant_type", tokenStatus: 400,
			tokenBody: `{"error":"invalid_request","error_description":"Missing form parameter: grant_type"}`,
			want:      worker.Halt, reason: "configuration"},
		{name: "2d unknown grant_type", tokenStatus: 400,
			tokenBody: `{"error":"unsupported_grant_type","error_description":"Unsupported grant_type"}`,
			want:      worker.Halt, reason: "configuration"},
		{name: "2d bad refresh token", grant: keycloak.GrantPassword, tokenStatus: 400,
			tokenBody: `{"error":"invalid_grant","error_description":"Invalid refresh token"}`,
			want:      worker.Halt, reason: "credentials_rejected"},
		{name: "2d no service account (gloak's note, 400)", tokenStatus: 400,
			tokenBody: `{"error":"unauthorized_client","error_description":"Client not enabled to retrieve service account"}`,
			want:      worker.Halt, reason: "configuration", hint: "Service accounts roles"},
		{name: "2d no service account (26.7.3, 401)", tokenStatus: 401,
			tokenBody: `{"error":"unauthorized_client","error_description":"Client not enabled to retrieve service account"}`,
			want:      worker.Halt, reason: "configuration", hint: "Service accounts roles"},
		{name: "2d public client", tokenStatus: 401,
			tokenBody: `{"error":"unauthorized_client","error_description":"Public client not allowed to retrieve service account"}`,
			want:      worker.Halt, reason: "configuration", hint: "Client authentication"},
		{name: "2d service account disabled (26.7.3)", tokenStatus: 401,
			tokenBody: `{"error":"invalid_request","error_description":"User 'service-account-resetq' disabled"}`,
			want:      worker.Halt, reason: "configuration", hint: "service-account-resetq under Users"},
		{name: "2d account not fully set up", grant: keycloak.GrantPassword, tokenStatus: 400,
			tokenBody: `{"error":"invalid_grant","error_description":"Account is not fully set up"}`,
			want:      worker.Halt, reason: "configuration", hint: "VERIFY_PROFILE"},
		{name: "token endpoint 404 (wrong base path)", tokenStatus: 404,
			tokenBody: `{"error":"RESTEASY003210: Could not find resource for full path: http://x/realms/corp/protocol/openid-connect/token"}`,
			want:      worker.Halt, reason: "configuration", hint: "/auth"},
		{name: "token endpoint 404 (unknown realm)", tokenStatus: 404, tokenBody: `{"error":"Realm does not exist"}`,
			want: worker.Halt, reason: "configuration", hint: "auth.realm"},
		{name: "token endpoint 503", tokenStatus: 503, tokenBody: `<html>Service Unavailable</html>`,
			want: worker.Retry, reason: "transient"},
		{name: "token endpoint 429", tokenStatus: 429, tokenBody: `too many`, header: http.Header{"Retry-After": {"4"}},
			want: worker.Retry, reason: "rate_limited", retryAfter: 4 * time.Second},

		// keycloak.md §4: execute-actions-email, in Keycloak's order.
		{name: "4.1 401 twice", user: id, adminStatus: 401, adminBody: `{"error":"HTTP 401 Unauthorized"}`,
			want: worker.Halt, reason: "credentials_rejected"},
		{name: "4.2 no users role (26.x)", user: id, adminStatus: 403, adminBody: `{"error":"HTTP 403 Forbidden"}`,
			want: worker.Halt, reason: "permission_denied", hint: "manage-users"},
		{name: "4.2 no users role (21-23)", user: id, adminStatus: 403, adminBody: `{"error":"unknown_error"}`,
			want: worker.Halt, reason: "permission_denied"},
		{name: "4.3 user id does not exist", user: id, adminStatus: 404, adminBody: `{"error":"User not found"}`,
			want: worker.Skip, reason: "user_not_found"},
		{name: "4.5 body not JSON (26.7)", user: id, adminStatus: 400,
			adminBody: `{"error":"HTTP 400 Bad Request","error_description":"Cannot parse the JSON"}`,
			want:      worker.Fail, reason: "invalid_request"},
		{name: "4.5 body not JSON (oauth shape)", user: id, adminStatus: 400,
			adminBody: `{"error":"invalid_request","error_description":"Cannot parse the JSON"}`,
			want:      worker.Fail, reason: "invalid_request"},
		{name: "4.6 lifespan not an integer", user: id, adminStatus: 404, adminBody: `{"error":"HTTP 404 Not Found"}`,
			want: worker.Halt, reason: "configuration"},
		{name: "4.7 user email missing", user: id, adminStatus: 400, adminBody: `{"errorMessage":"User email missing"}`,
			want: worker.Skip, reason: "no_email"},
		{name: "4.7b user disabled", user: id, adminStatus: 400, adminBody: `{"errorMessage":"User is disabled"}`,
			want: worker.Skip, reason: "user_disabled"},
		{name: "4.8 client id missing", user: id, adminStatus: 400, adminBody: `{"errorMessage":"Client id missing"}`,
			want: worker.Halt, reason: "configuration", hint: "link settings"},
		{name: "4.8b unknown client", user: id, adminStatus: 400, adminBody: `{"errorMessage":"Client doesn't exist"}`,
			want: worker.Halt, reason: "configuration", hint: "link settings"},
		{name: "4.8c client disabled", user: id, adminStatus: 400, adminBody: `{"errorMessage":"Client is not enabled"}`,
			want: worker.Halt, reason: "configuration", hint: "link settings"},
		{name: "4.9 redirect not allowed", user: id, adminStatus: 400, adminBody: `{"errorMessage":"Invalid redirect uri."}`,
			want: worker.Halt, reason: "configuration", hint: "link.redirect_uri"},
		{name: "4.10 unknown required action", user: id, adminStatus: 400,
			adminBody: `{"errorMessage":"Provided invalid required actions"}`,
			want:      worker.Fail, reason: "invalid_action"},
		{name: "4.11 no SMTP (26.7)", user: id, adminStatus: 500,
			adminBody: `{"errorMessage":"Failed to send execute actions email: Invalid sender address 'null'. Please check realm settings"}`,
			want:      worker.Halt, reason: "configuration", hint: "Realm settings → Email"},
		{name: "4.11 no SMTP (other 26.x)", user: id, adminStatus: 500,
			adminBody: `{"errorMessage":"Failed to send execute actions email: No sender address configured in the realm settings for emails"}`,
			want:      worker.Halt, reason: "configuration", hint: "Realm settings → Email"},
		{name: "4.11 SMTP failure (≤24, bare text)", user: id, adminStatus: 500,
			adminBody: `{"errorMessage":"Failed to send execute actions email"}`,
			want:      worker.Retry, reason: "mail_failed", hint: "Test connection"},
		{name: "4.12 SMTP unreachable, refused, throttling or 550", user: id, adminStatus: 500,
			adminBody: `{"errorMessage":"Failed to send execute actions email: Error when attempting to send the email to the server. More information is available in the server log."}`,
			want:      worker.Retry, reason: "mail_failed", hint: "SMTP server"},
		{name: "non-ASCII local part, UTF-8 mail off", user: id, adminStatus: 500,
			adminBody: `{"errorMessage":"Failed to send execute actions email: Invalid address 'jürgen@example.org'. If the address contains UTF-8 characters in the local part please ensure the SMTP server supports the SMTPUTF8 extension and enable 'Allow UTF-8' in the email realm configuration."}`,
			want:      worker.Skip, reason: "recipient_refused"},
		{name: "broken email theme", user: id, adminStatus: 500,
			adminBody: `{"errorMessage":"Failed to send execute actions email: Failed to template email"}`,
			want:      worker.Halt, reason: "configuration", hint: "email theme"},
		{name: "broken Reply-To", user: id, adminStatus: 500,
			adminBody: `{"errorMessage":"Failed to send execute actions email: Invalid email address format"}`,
			want:      worker.Halt, reason: "configuration", hint: "Reply-To"},
		{name: "2xx other than 204: a proxy's page", user: id, adminStatus: 200, adminBody: `<html>Welcome</html>`,
			want: worker.Halt, reason: "configuration", hint: "in front of it"},
		{name: "proxy 504: Keycloak may have sent it", user: id, adminStatus: 504, adminBody: `<html>Gateway Timeout</html>`,
			want: worker.Done, reason: "unconfirmed"},
		{name: "object body, unhandled", user: id, adminStatus: 500,
			adminBody: `{"error":"unknown_error","error_description":"For more on this error consult the server log."}`,
			want:      worker.Retry, reason: "transient"},
		{name: "text/plain body", user: id, adminStatus: 415, adminBody: `{"error":"The content-type header value did not match the value in @Consumes"}`,
			want: worker.Fail, reason: "invalid_request"},
		{name: "unmatched path (26.7)", user: id, adminStatus: 404,
			adminBody: `{"error":"Unable to find matching target resource method"}`,
			want:      worker.Halt, reason: "configuration", hint: "/auth"},
		{name: "unmatched path (17-20)", user: id, adminStatus: 404,
			adminBody: `{"error":"RESTEASY003210: Could not find resource for full path: http://x/admin/realms/corp/users"}`,
			want:      worker.Halt, reason: "configuration", hint: "/auth"},
		{name: "realm not found", user: id, adminStatus: 404, adminBody: `{"error":"Realm not found."}`,
			want: worker.Halt, reason: "configuration", hint: "does not exist"},
		{name: "proxy 429", user: id, adminStatus: 429, adminBody: `<html>429</html>`,
			header: http.Header{"Retry-After": {"7"}}, want: worker.Retry, reason: "rate_limited", retryAfter: 7 * time.Second},
		{name: "proxy 503 with Retry-After", user: id, adminStatus: 503, adminBody: ``,
			header: http.Header{"Retry-After": {"2"}}, want: worker.Retry, reason: "rate_limited", retryAfter: 2 * time.Second},
		{name: "proxy 502", user: id, adminStatus: 502, adminBody: `<html>Bad Gateway</html>`,
			want: worker.Retry, reason: "transient"},

		// keycloak.md §3: the lookup.
		{name: "lookup: no match", user: email, adminStatus: 200, adminBody: `[]`,
			want: worker.Skip, reason: "user_not_found"},
		{name: "lookup: substring noise only", user: email, adminStatus: 200,
			adminBody: `[{"id":"1","username":"x","email":"alice@example.com2","enabled":true}]`,
			want:      worker.Skip, reason: "user_not_found"},
		{name: "lookup: two matches", user: email, adminStatus: 200,
			adminBody: `[{"id":"1","username":"a","email":"alice@example.com","enabled":true},{"id":"2","username":"b","email":"ALICE@example.com","enabled":true}]`,
			want:      worker.Skip, reason: "ambiguous_user"},
		{name: "lookup: disabled", user: email, adminStatus: 200,
			adminBody: `[{"id":"1","username":"a","email":"alice@example.com","enabled":false}]`,
			want:      worker.Skip, reason: "user_disabled"},
		{name: "lookup: no email", user: idp.UserRef{Username: "alice"}, adminStatus: 200,
			adminBody: `[{"id":"1","username":"alice","enabled":true}]`,
			want:      worker.Skip, reason: "no_email"},
		{name: "lookup: 403", user: email, adminStatus: 403, adminBody: `{"error":"HTTP 403 Forbidden"}`,
			want: worker.Halt, reason: "permission_denied"},
		{name: "lookup: not a list", user: email, adminStatus: 200, adminBody: `<html>login</html>`,
			want: worker.Halt, reason: "configuration", hint: "base_url"},
	}
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &canned{tokenStatus: tt.tokenStatus, tokenBody: tt.tokenBody, adminStatus: tt.adminStatus,
				adminBody: tt.adminBody, header: tt.header}
			srv := httptest.NewServer(c)
			defer srv.Close()
			p := newProvider(t, srv.URL, func(cfg *keycloak.Config) {
				if tt.grant == keycloak.GrantPassword {
					cfg.Grant, cfg.ClientID, cfg.ClientSecret, cfg.Username, cfg.Password = tt.grant, "", "", "admin", "pw"
				}
			})
			user := tt.user
			if user == (idp.UserRef{}) {
				user = id
			}
			err := p.Reset(context.Background(), idp.Request{User: user})
			require.Error(t, err)
			d := worker.Classify(err)
			require.Equal(t, tt.want, d.Action, "%v", err)
			require.Equal(t, tt.reason, d.Reason, "%v", err)
			require.Equal(t, tt.retryAfter, d.RetryAfter)
			if tt.hint != "" {
				require.Contains(t, d.Err.Hint, tt.hint)
			}
			if d.Action == worker.Halt {
				require.NotEmpty(t, d.Err.Hint, "a halt must say what to fix")
			}
			require.NotContains(t, err.Error(), "s3cr3t-client")
			require.NotContains(t, err.Error(), "jürgen", "an error never quotes the user's address")
			if tt.name == "4.1 401 twice" {
				require.EqualValues(t, 2, c.tokenCalls.Load(), "one refresh after the first 401")
				require.EqualValues(t, 2, c.adminCalls.Load(), "one retry after the refresh")
			}
		})
	}
}

func TestNetworkErrorsAreTransientAndHideTheURL(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now

	p := newProvider(t, "http://"+addr)
	err = p.Reset(context.Background(), idp.Request{User: idp.UserRef{Email: "alice@example.com"}})
	require.Error(t, err)
	d := worker.Classify(err)
	require.Equal(t, worker.Retry, d.Action)
	require.Equal(t, "transient", d.Reason)

	// An admin call's URL carries the email; a network error must not.
	c := &canned{adminStatus: 200, adminBody: `[]`}
	srv := httptest.NewServer(c)
	p = newProvider(t, srv.URL)
	srv.Close()
	err = p.Reset(context.Background(), idp.Request{User: idp.UserRef{Email: "alice@example.com"}})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "alice")
	require.NotContains(t, err.Error(), "example.com")
}
