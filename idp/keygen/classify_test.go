package keygen_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/keygen"
	"github.com/resetq/resetq/worker"
)

type configT = keygen.Config

const staticToken = "admin-5ecre7t0ken000000000000000000000000000000000000000000000000v3"

func newProvider(t *testing.T, baseURL string, mutate ...func(*keygen.Config)) *keygen.Provider {
	t.Helper()
	cfg := keygen.Config{BaseURL: baseURL, Account: "acme", Token: staticToken, Deliver: true, Timeout: 5 * time.Second}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := keygen.New(cfg)
	require.NoError(t, err)
	return p
}

// answer is one canned response.
type answer struct {
	status int
	body   string
	header map[string]string
}

// canned answers by route: "passwords", "users", "tokens", "me",
// "webhook-endpoints".
type canned struct {
	routes map[string]answer
	calls  map[string]*atomic.Int32
}

const (
	adminMe        = `{"data":{"id":"u0","type":"users","attributes":{"email":"admin@acme.example","role":"admin"}}}`
	subscribedHook = `{"data":[{"id":"e1","type":"webhook-endpoints","attributes":{"url":"https://hooks.example.com/k","subscriptions":["user.password-reset"]},"relationships":{"product":{"data":null}}}]}`
)

func route(path string) string {
	switch {
	case strings.Contains(path, "/users/"):
		return "users"
	case strings.HasSuffix(path, "/tokens"):
		return "tokens"
	case strings.HasSuffix(path, "/me"):
		return "me"
	case strings.HasSuffix(path, "/webhook-endpoints"):
		return "webhook-endpoints"
	}
	return "passwords"
}

func newCanned(routes map[string]answer) *canned {
	c := &canned{routes: routes, calls: map[string]*atomic.Int32{}}
	for _, r := range []string{"passwords", "users", "tokens", "me", "webhook-endpoints"} {
		c.calls[r] = &atomic.Int32{}
	}
	return c
}

func (c *canned) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route := route(r.URL.Path)
	c.calls[route].Add(1)
	a, ok := c.routes[route]
	if !ok {
		switch route {
		case "tokens":
			a = answer{status: 201, body: `{"data":{"id":"t1","type":"tokens","attributes":{"kind":"admin-token","token":"admin-minted000v3","expiry":null}}}`}
		case "me":
			a = answer{status: 200, body: adminMe}
		case "webhook-endpoints":
			a = answer{status: 200, body: subscribedHook}
		default:
			a = answer{status: 204}
		}
	}
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/vnd.api+json; charset=utf-8")
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
}

func errDoc(title, detail, code string) string {
	s := `{"meta":{"id":"r"},"errors":[{"title":"` + title + `","detail":"` + detail + `"`
	if code != "" {
		s += `,"code":"` + code + `"`
	}
	return s + `}]}`
}

func TestClassificationOfEveryKeygenAnswer(t *testing.T) {
	t.Parallel()
	reset := time.Now().Add(42 * time.Minute).Unix()
	type row struct {
		name       string
		routes     map[string]answer
		mutate     func(*keygen.Config)
		user       idp.UserRef
		want       worker.Action // Done for success
		reason     string
		retryAfter time.Duration // lower bound
		hint       string
	}
	pw := func(a answer) map[string]answer { return map[string]answer{"passwords": a} }
	verify := func(c *keygen.Config) { c.VerifyUser = true }
	hooked := func(c *keygen.Config) { c.Deliver = false }
	minting := func(c *keygen.Config) { c.Token, c.Email, c.Password = "", "admin@acme.example", "pw-secret" }
	rows := []row{
		{name: "204 (the server)", routes: pw(answer{status: 204}), want: worker.Done},
		// Keygen answers 204 and nothing else: another 2xx is something in
		// front of it, and no reset can be trusted to have gone out.
		{name: "202 (the docs, not the server)", routes: pw(answer{status: 202}), want: worker.Halt, reason: "configuration", hint: "something other than Keygen"},
		{name: "200 with a login page", routes: pw(answer{200, `<html>Sign in</html>`, nil}), want: worker.Halt, reason: "configuration", hint: "captive portal"},
		{name: "400 ENVIRONMENT_NOT_SUPPORTED", mutate: func(c *keygen.Config) { c.Environment = "production"; c.VerifyUser = true },
			routes: map[string]answer{"me": {400, `{"meta":{"id":"r"},"errors":[{"title":"Bad request","detail":"is unsupported","code":"ENVIRONMENT_NOT_SUPPORTED","source":{"header":"Keygen-Environment"}}]}`, nil}},
			want:   worker.Halt, reason: "configuration", hint: "remove environment"},
		{name: "400 ENVIRONMENT_INVALID", mutate: func(c *keygen.Config) { c.Environment = "prod"; c.VerifyUser = true },
			routes: map[string]answer{"me": {400, `{"meta":{"id":"r"},"errors":[{"title":"Bad request","detail":"environment is invalid","code":"ENVIRONMENT_INVALID","source":{"header":"Keygen-Environment"}}]}`, nil}},
			want:   worker.Halt, reason: "configuration", hint: `no environment "prod"`},
		{name: "400 missing meta.email", routes: pw(answer{400, `{"meta":{"id":"r"},"errors":[{"title":"Bad request","detail":"is missing","source":{"pointer":"/meta/email"}}]}`, nil}),
			want: worker.Fail, reason: "invalid_request"},
		{name: "400 INVALID_API_VERSION", routes: pw(answer{400, errDoc("Bad request", "unsupported API version requested", "INVALID_API_VERSION"), nil}),
			want: worker.Halt, reason: "configuration", hint: "keygen_version"},
		{name: "400 MIME_TYPE_INVALID", routes: pw(answer{400, `{"errors":[{"title":"Bad request","detail":"The mime type of the request is not acceptable (check content-type and accept headers)","code":"MIME_TYPE_INVALID"}]}`, nil}),
			want: worker.Halt, reason: "configuration"},
		{name: "401 TOKEN_INVALID with a static token", routes: pw(answer{401, errDoc("Unauthorized", "Token must be a valid API token", "TOKEN_INVALID"), map[string]string{"WWW-Authenticate": `Bearer realm="keygen"`}}),
			want: worker.Halt, reason: "credentials_rejected", hint: "create a new admin or product token"},
		{name: "401 TOKEN_EXPIRED with a static token", routes: pw(answer{401, errDoc("Unauthorized", "Token is expired", "TOKEN_EXPIRED"), nil}),
			want: worker.Halt, reason: "credentials_rejected"},
		{name: "401 TOKEN_FORMAT_INVALID", routes: pw(answer{401, errDoc("Unauthorized", "Token format is invalid", "TOKEN_FORMAT_INVALID"), nil}),
			want: worker.Halt, reason: "credentials_rejected", hint: "not its secret"},
		{name: "403 TOKEN_NOT_ALLOWED", routes: pw(answer{403, errDoc("Access denied", "You do not have permission to complete the request", "TOKEN_NOT_ALLOWED"), nil}),
			want: worker.Halt, reason: "permission_denied"},
		{name: "403 blocklisted IP", routes: pw(answer{403, errDoc("Access denied", "You do not have permission to complete the request", ""), map[string]string{"X-RateLimit-Window": "blacklist"}}),
			want: worker.Halt, reason: "configuration", hint: "blocked"},
		{name: "404 unknown account", routes: pw(answer{404, errDoc("Not found", "The requested account 'acme' was not found", "NOT_FOUND"), nil}),
			want: worker.Halt, reason: "configuration", hint: "account"},
		{name: "404 no such route (base_url)", routes: pw(answer{404, `<html>Not Found</html>`, nil}),
			want: worker.Halt, reason: "configuration", hint: "/v1"},
		{name: "422", routes: pw(answer{422, errDoc("Unprocessable resource", "is invalid", "EMAIL_INVALID"), nil}),
			want: worker.Fail, reason: "invalid_request"},
		{name: "429 rstpwd", routes: pw(answer{429, `{"errors":[{"title":"Too many requests","detail":"Throttle limit has been reached for your IP address.","code":"TOO_MANY_REQUESTS"}]}`,
			map[string]string{"Retry-After": "2520", "X-RateLimit-Window": "rstpwd", "X-RateLimit-Reset": strconv.FormatInt(reset, 10)}}),
			want: worker.Retry, reason: "rate_limited", retryAfter: 41 * time.Minute},
		{name: "429 with only X-RateLimit-Reset", routes: pw(answer{429, `{"errors":[]}`, map[string]string{"X-RateLimit-Reset": strconv.FormatInt(reset, 10)}}),
			want: worker.Retry, reason: "rate_limited", retryAfter: 41 * time.Minute},
		{name: "500", routes: pw(answer{500, errDoc("Internal server error", "Looks like something went wrong!", ""), nil}),
			want: worker.Retry, reason: "transient"},
		{name: "502 from a proxy", routes: pw(answer{502, `<html>Bad Gateway</html>`, nil}), want: worker.Retry, reason: "transient"},
		{name: "503 with Retry-After", routes: pw(answer{503, ``, map[string]string{"Retry-After": "30"}}),
			want: worker.Retry, reason: "rate_limited", retryAfter: 30 * time.Second},

		{name: "verify: unknown user", mutate: verify,
			routes: map[string]answer{"users": {404, errDoc("Not found", "The requested user 'alice@example.com' was not found", "NOT_FOUND"), nil}},
			want:   worker.Skip, reason: "user_not_found"},
		// Keygen resets banned users too; without verify_user nobody could
		// tell, so with it the reset goes out as well.
		{name: "verify: banned user is reset, as without verify_user", mutate: verify,
			routes: map[string]answer{"users": {200, `{"data":{"id":"u1","type":"users","attributes":{"email":"alice@example.com","status":"BANNED"}}}`, nil}},
			want:   worker.Done},
		{name: "verify: a product token cannot see staff", mutate: verify,
			routes: map[string]answer{"me": {200, `{"data":{"id":"p1","type":"products","attributes":{"name":"Widget"}}}`, nil},
				"users": {404, errDoc("Not found", "The requested user 'alice@example.com' was not found", "NOT_FOUND"), nil}},
			want: worker.Halt, reason: "permission_denied", hint: "verify_user"},
		{name: "verify: a role-user token sees only itself", mutate: verify,
			routes: map[string]answer{"me": {200, `{"data":{"id":"u9","type":"users","attributes":{"email":"bob@example.com","role":"user"}}}`, nil}},
			want:   worker.Halt, reason: "permission_denied", hint: "admin token"},
		{name: "verify: a read-only token sees everyone", mutate: verify,
			routes: map[string]answer{"me": {200, `{"data":{"id":"u8","type":"users","attributes":{"email":"ro@example.com","role":"read-only"}}}`, nil},
				"users": {200, `{"data":{"id":"u1","type":"users","attributes":{"email":"alice@example.com","status":"ACTIVE"}}}`, nil}},
			want: worker.Done},

		{name: "deliver false: an endpoint subscribes", mutate: hooked, want: worker.Done},
		{name: "deliver false: an endpoint subscribes to *", mutate: hooked,
			routes: map[string]answer{"webhook-endpoints": {200, `{"data":[{"id":"e1","attributes":{"url":"https://h.example/","subscriptions":["*"]}}]}`, nil}},
			want:   worker.Done},
		{name: "deliver false: no endpoint at all", mutate: hooked,
			routes: map[string]answer{"webhook-endpoints": {200, `{"data":[],"links":{}}`, nil}},
			want:   worker.Halt, reason: "configuration", hint: "add a webhook endpoint subscribed to user.password-reset"},
		{name: "deliver false: endpoints, none subscribed", mutate: hooked,
			routes: map[string]answer{"webhook-endpoints": {200, `{"data":[{"id":"e1","attributes":{"url":"https://h.example/","subscriptions":["license.created"]}},{"id":"e2","attributes":{"url":"https://g.example/","subscriptions":[]}}]}`, nil}},
			want:   worker.Halt, reason: "configuration", hint: "deliver: true"},
		{name: "deliver false: the token may not list endpoints", mutate: hooked,
			routes: map[string]answer{"webhook-endpoints": {403, errDoc("Access denied", "You do not have permission to complete the request", ""), nil}},
			want:   worker.Halt, reason: "permission_denied", hint: "list webhook endpoints"},
		{name: "verify: known user", mutate: verify,
			routes: map[string]answer{"users": {200, `{"data":{"id":"u1","type":"users","attributes":{"email":"Alice@Example.com","status":"ACTIVE"}}}`, nil}},
			want:   worker.Done},
		{name: "verify: token may not read users", mutate: verify,
			routes: map[string]answer{"users": {403, errDoc("Access denied", "You do not have permission to complete the request", "ACCESS_DENIED"), nil}},
			want:   worker.Halt, reason: "permission_denied", hint: "product token allowed to read users"},

		{name: "mint: wrong password", mutate: minting,
			routes: map[string]answer{"tokens": {401, errDoc("Unauthorized", "password must be valid", "PASSWORD_INVALID"), nil}},
			want:   worker.Halt, reason: "credentials_rejected", hint: "auth.password"},
		{name: "mint: 2FA on the account", mutate: minting,
			routes: map[string]answer{"tokens": {401, errDoc("Unauthorized", "second factor is required", "OTP_REQUIRED"), nil}},
			want:   worker.Halt, reason: "configuration", hint: "admin or product token"},
		{name: "mint: throttled", mutate: minting,
			routes: map[string]answer{"tokens": {429, `{"errors":[]}`, map[string]string{"Retry-After": "40", "X-RateLimit-Window": "auth"}}},
			want:   worker.Retry, reason: "rate_limited", retryAfter: 40 * time.Second},

		{name: "a username cannot be reset", user: idp.UserRef{Username: "alice"}, want: worker.Fail, reason: "invalid_request"},
	}
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCanned(tt.routes)
			srv := httptest.NewServer(c)
			defer srv.Close()
			var muts []func(*keygen.Config)
			if tt.mutate != nil {
				muts = append(muts, tt.mutate)
			}
			p := newProvider(t, srv.URL, muts...)
			user := tt.user
			if user == (idp.UserRef{}) {
				user = idp.UserRef{Email: "alice@example.com"}
			}
			err := p.Reset(context.Background(), idp.Request{User: user})
			d := worker.Classify(err)
			require.Equal(t, tt.want, d.Action, "%v", err)
			if tt.want == worker.Done {
				return
			}
			require.Equal(t, tt.reason, d.Reason, "%v", err)
			require.GreaterOrEqual(t, d.RetryAfter, tt.retryAfter)
			if tt.hint != "" {
				require.Contains(t, d.Err.Hint, tt.hint)
			}
			if d.Action == worker.Halt {
				require.NotEmpty(t, d.Err.Hint)
			}
			for _, secret := range []string{staticToken, "pw-secret", "alice@example.com"} {
				require.NotContains(t, err.Error(), secret)
			}
		})
	}
}

// recorder answers like canned and keeps every request with its body.
type recorder struct {
	*canned
	mu   sync.Mutex
	reqs map[string][]recorded
}

type recorded struct {
	req  *http.Request
	body string
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs[route(r.URL.Path)] = append(rc.reqs[route(r.URL.Path)], recorded{r.Clone(context.Background()), string(b)})
	rc.mu.Unlock()
	rc.canned.ServeHTTP(w, r)
}

func (rc *recorder) last(route string) recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rs := rc.reqs[route]
	if len(rs) == 0 {
		return recorded{}
	}
	return rs[len(rs)-1]
}

func newRecorder(t *testing.T, routes map[string]answer) (*recorder, string) {
	rc := &recorder{canned: newCanned(routes), reqs: map[string][]recorded{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

func TestRequestShape(t *testing.T) {
	t.Parallel()
	rc, base := newRecorder(t, nil)
	p := newProvider(t, base+"/", func(c *keygen.Config) {
		c.Deliver = false
		c.APIVersion = "1.7"
		c.Account = "00000000-0000-0000-0000-000000000000"
	})
	require.NoError(t, p.Reset(context.Background(), idp.Request{User: idp.UserRef{Email: "bob+x@example.com"}}))
	got := rc.last("passwords")
	require.Equal(t, http.MethodPost, got.req.Method)
	require.Equal(t, "/v1/accounts/00000000-0000-0000-0000-000000000000/passwords", got.req.URL.Path)
	require.JSONEq(t, `{"meta":{"email":"bob+x@example.com","deliver":false}}`, got.body)
	require.Equal(t, "application/vnd.api+json", got.req.Header.Get("Content-Type"))
	require.Equal(t, "application/vnd.api+json", got.req.Header.Get("Accept"))
	require.Equal(t, "1.7", got.req.Header.Get("Keygen-Version"))
	require.Equal(t, "Bearer "+staticToken, got.req.Header.Get("Authorization"))
	hooks := rc.last("webhook-endpoints")
	require.NotNil(t, hooks.req, "deliver false: the endpoints are listed before the first reset")
	require.Equal(t, "1", hooks.req.URL.Query().Get("page[number]"))
	require.Equal(t, "100", hooks.req.URL.Query().Get("page[size]"), "the largest page Keygen serves")
}

// TestEnvironmentIsSentOnAdminCallsNotOnResets: with an Enterprise Edition
// environment, every authenticated call carries Keygen-Environment (a
// lookup without it sees only global users); the forgot-password call does
// not, so that Keygen takes the user's own environment for its webhook.
func TestEnvironmentIsSentOnAdminCallsNotOnResets(t *testing.T) {
	t.Parallel()
	rc, base := newRecorder(t, map[string]answer{"users": {200, `{"data":{"id":"u1","type":"users","attributes":{"email":"bob@example.com","status":"ACTIVE"}}}`, nil}})
	p := newProvider(t, base, func(c *keygen.Config) {
		c.Token, c.Email, c.Password = "", "admin@acme.example", "pw-secret"
		c.Environment, c.VerifyUser, c.Deliver = "production", true, false
	})
	_, err := p.Check(context.Background())
	require.NoError(t, err)
	require.NoError(t, p.Reset(context.Background(), idp.Request{User: idp.UserRef{Email: "bob@example.com"}}))
	for _, route := range []string{"tokens", "me", "webhook-endpoints", "users"} {
		require.Equal(t, "production", rc.last(route).req.Header.Get("Keygen-Environment"), route)
	}
	require.NotNil(t, rc.last("passwords").req)
	require.Empty(t, rc.last("passwords").req.Header.Values("Keygen-Environment"))
}

func TestNewRefusesIncompleteConfigs(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]keygen.Config{
		"no account":     {Token: "t"},
		"no credentials": {Account: "acme"},
		"both":           {Account: "acme", Token: "t", Email: "a@b.co", Password: "p"},
		"bad url":        {BaseURL: "api.keygen.sh", Account: "acme", Token: "t"},
	} {
		_, err := keygen.New(cfg)
		require.Error(t, err, name)
	}
	p, err := keygen.New(keygen.Config{Account: "acme", Token: "t"})
	require.NoError(t, err, "the base URL defaults to Keygen Cloud")
	require.NotNil(t, p)
}
