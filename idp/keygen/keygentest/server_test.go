package keygentest_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keygen/keygentest"
	"github.com/resetq/resetq/internal/testclock"
	"github.com/resetq/resetq/internal/testhttp"
)

type bundle struct {
	srv     *keygentest.Server
	acct    *keygentest.Account
	admin   string // admin token
	product string // product token
	sample  keygentest.Sample
	clock   *testclock.Clock
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{clock: testclock.New(time.Date(2026, 11, 22, 10, 0, 30, 0, time.UTC))}
	b.srv = keygentest.NewServer(keygentest.WithClock(b.clock.Now))
	t.Cleanup(b.srv.Close)
	b.acct = b.srv.AddAccount(keygentest.Account{Slug: "acme"})
	b.admin = b.srv.AddAdmin(b.acct, "admin@acme.example", "admin-password")
	b.product = b.srv.AddProduct(b.acct, "Widget")
	b.sample = b.srv.AddSampleUsers(b.acct, 12)
	return b
}

// answer is what the emulator answered.
type answer = testhttp.Answer

func (b *bundle) do(t *testing.T, method, path, body string, header ...string) answer {
	t.Helper()
	h := []string{"Accept", "application/vnd.api+json"}
	if body != "" {
		h = append(h, "Content-Type", "application/vnd.api+json")
	}
	return testhttp.Do(t, method, b.srv.URL()+path, body, append(h, header...)...)
}

func (b *bundle) reset(t *testing.T, email string, extra ...string) answer {
	t.Helper()
	deliver := ""
	if len(extra) > 0 {
		deliver = `,"deliver":` + extra[0]
	}
	return b.do(t, http.MethodPost, "/v1/accounts/acme/passwords", `{"meta":{"email":"`+email+`"`+deliver+`}}`)
}

func errorCode(t *testing.T, a answer) string {
	t.Helper()
	var doc struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	require.NoError(t, json.Unmarshal([]byte(a.Body), &doc), a.Body)
	require.NotEmpty(t, doc.Errors, a.Body)
	return doc.Errors[0].Code
}

func TestForgotPasswordAnswers204ForEveryone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	known := b.sample.Emails[0]
	require.Equal(t, 204, b.reset(t, strings.ToUpper(known)).Status, "case does not matter")
	require.Equal(t, 204, b.reset(t, "nobody@example.com").Status, "unknown emails get 204 too, on purpose")
	require.Equal(t, 204, b.reset(t, b.sample.Emails[1], "false").Status)

	rs := b.srv.Resets()
	require.Len(t, rs, 3)
	require.True(t, rs[0].Known)
	require.Equal(t, known, rs[0].Email)
	require.Len(t, rs[0].Token, 50, "hex(24 bytes) + v3")
	require.False(t, rs[1].Known)
	require.Empty(t, rs[1].Token)
	require.False(t, rs[2].Deliver)
	require.Equal(t, 1, b.srv.Emails(), "unknown: nothing; deliver false: no email")

	a := b.do(t, http.MethodPost, "/v1/accounts/acme/passwords", `{"meta":{}}`)
	require.Equal(t, 400, a.Status)
	require.Contains(t, a.Body, `"pointer":"/meta/email"`)
	require.Equal(t, "application/vnd.api+json; charset=utf-8", a.Header.Get("Content-Type"))
	require.Equal(t, keygentest.APIVersion, a.Header.Get("Keygen-Version"))
}

func TestResetThrottleIsFivePerHourPerEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	email := b.sample.Emails[0]
	for i := range 5 {
		require.Equal(t, 204, b.reset(t, email).Status, "reset %d", i+1)
	}
	a := b.reset(t, strings.ToUpper(email))
	require.Equal(t, 429, a.Status)
	require.JSONEq(t, `{"errors":[{"title":"Too many requests","detail":"Throttle limit has been reached for your IP address. Please slow down. See https://keygen.sh/docs/api/rate-limiting/ for more info.","code":"TOO_MANY_REQUESTS"}]}`, a.Body)
	require.Equal(t, "rstpwd", a.Header.Get("X-RateLimit-Window"))
	require.Equal(t, "6", a.Header.Get("X-RateLimit-Count"))
	require.Equal(t, "5", a.Header.Get("X-RateLimit-Limit"))
	require.Equal(t, "0", a.Header.Get("X-RateLimit-Remaining"))
	hour := time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC)
	require.Equal(t, strconv.FormatInt(hour.Unix(), 10), a.Header.Get("X-RateLimit-Reset"))
	require.Equal(t, "3570", a.Header.Get("Retry-After"), "seconds to the end of the window")

	require.Equal(t, 204, b.reset(t, b.sample.Emails[1]).Status, "another email is not throttled")
	b.clock.Add(time.Hour)
	require.Equal(t, 204, b.reset(t, email).Status, "a new window")
	require.Equal(t, 6, b.srv.ResetCount(email))
}

func TestANewResetCancelsThePreviousLink(t *testing.T) {
	t.Parallel()
	b := setup(t)
	email := b.sample.Emails[0]
	b.reset(t, email)
	b.reset(t, email)
	rs := b.srv.Resets()
	complete := func(token, pw string) answer {
		return b.do(t, http.MethodPost, "/v1/accounts/acme/users/"+email+"/actions/reset-password",
			`{"meta":{"passwordResetToken":"`+token+`","newPassword":"`+pw+`"}}`)
	}
	a := complete(rs[0].Token, "new-password")
	require.Equal(t, 404, a.Status, "the first link no longer works")
	require.Contains(t, a.Body, "The requested user '"+email+"' was not found")
	require.Equal(t, 422, complete(rs[1].Token, "short").Status)
	require.Equal(t, 200, complete(rs[1].Token, "new-password").Status)
	require.Equal(t, 404, complete(rs[1].Token, "again-password").Status, "a token works once")

	b.reset(t, email)
	b.clock.Add(25 * time.Hour)
	a = complete(b.srv.Resets()[2].Token, "new-password")
	require.Equal(t, 401, a.Status)
	require.Contains(t, a.Body, `"detail":"is expired"`)
}

func TestProtectedAccountsRefuseManagedUsers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.Update(func() { b.acct.Protected = true })
	require.Equal(t, 204, b.reset(t, b.sample.Managed).Status, "the request itself still answers 204")
	tok := b.srv.Resets()[0].Token
	a := b.do(t, http.MethodPost, "/v1/accounts/acme/users/"+b.sample.Managed+"/actions/reset-password",
		`{"meta":{"passwordResetToken":"`+tok+`","newPassword":"first-password"}}`)
	require.Equal(t, 403, a.Status)
}

func TestBearerChecks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := "/v1/accounts/acme/users/" + b.sample.Emails[0]
	for _, tt := range []struct {
		name, header, code string
	}{
		{"missing", "", "TOKEN_MISSING"},
		{"invalid", "Bearer admin-0000v3", "TOKEN_INVALID"},
		{"an id, not a token", "Bearer 1b4e28ba-2fa1-11d2-883f-0016d3cca427", "TOKEN_FORMAT_INVALID"},
	} {
		var hdr []string
		if tt.header != "" {
			hdr = []string{"Authorization", tt.header}
		}
		a := b.do(t, http.MethodGet, path, "", hdr...)
		require.Equal(t, 401, a.Status, tt.name)
		require.Equal(t, tt.code, errorCode(t, a), tt.name)
		require.Equal(t, `Bearer realm="keygen"`, a.Header.Get("WWW-Authenticate"), tt.name)
	}
	a := b.do(t, http.MethodGet, path, "", "Authorization", "Bearer "+b.admin)
	require.Equal(t, 200, a.Status)
	require.Contains(t, a.Body, `"email":"`+b.sample.Emails[0]+`"`)
	require.Equal(t, 200, b.do(t, http.MethodGet, path, "", "Authorization", "Bearer "+b.product).Status)
	a = b.do(t, http.MethodGet, "/v1/accounts/acme/users/nobody@example.com", "", "Authorization", "Bearer "+b.admin)
	require.Equal(t, 404, a.Status)
	require.Contains(t, a.Body, "The requested user 'nobody@example.com' was not found")

	b.srv.ExpireAllTokens()
	a = b.do(t, http.MethodGet, path, "", "Authorization", "Bearer "+b.admin)
	require.Equal(t, 401, a.Status)
	require.Equal(t, "TOKEN_EXPIRED", errorCode(t, a))
	a = b.do(t, http.MethodPost, "/v1/accounts/acme/passwords", `{"meta":{"email":"a@example.com"}}`, "Authorization", "Bearer "+b.admin)
	require.Equal(t, 204, a.Status, "PasswordsController never looks at the bearer, expired or not")
	a = b.do(t, http.MethodPost, "/v1/accounts/acme/passwords", `{"meta":{"email":"a@example.com"}}`, "Authorization", "Bearer nonsense")
	require.Equal(t, 204, a.Status, "nor at one Keygen never issued")
}

func TestVersionAndMediaTypes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.do(t, http.MethodGet, "/v1/accounts/acme/me", "", "Authorization", "Bearer "+b.admin, "Keygen-Version", "v1.7")
	require.Equal(t, 200, a.Status)
	require.Equal(t, "1.7", a.Header.Get("Keygen-Version"), "echoed, leading v stripped")
	require.Contains(t, a.Body, `"role":"admin"`)
	a = b.do(t, http.MethodGet, "/v1/accounts/acme/me", "", "Authorization", "Bearer "+b.admin, "Keygen-Version", "9.9")
	require.Equal(t, 400, a.Status)
	require.Equal(t, "INVALID_API_VERSION", errorCode(t, a))
	a = b.do(t, http.MethodGet, "/v1/accounts/acme/me", "", "Authorization", "Bearer "+b.admin, "Accept", "text/html")
	require.Equal(t, 400, a.Status)
	require.Equal(t, "MIME_TYPE_INVALID", errorCode(t, a))
	a = b.do(t, http.MethodGet, "/v1/accounts/acme/me", "", "Authorization", "Bearer "+b.product)
	require.Contains(t, a.Body, `"type":"products"`)
	a = b.do(t, http.MethodGet, "/v1/accounts/nope/me", "", "Authorization", "Bearer "+b.admin)
	require.Equal(t, 404, a.Status)
	require.Contains(t, a.Body, "The requested account 'nope' was not found")
	a = b.do(t, http.MethodGet, "/v1/accounts/acme/licenses", "")
	require.Equal(t, 404, a.Status)
}

func TestMintingTokensWithBasicAuth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mint := func(user, pass string) answer { return b.mintWith(t, user, pass, "") }
	a := mint("admin@acme.example", "admin-password")
	require.Equal(t, 201, a.Status, a.Body)
	require.NotEmpty(t, a.Header.Get("Location"))
	var doc struct {
		Data struct {
			Attributes struct {
				Kind   string    `json:"kind"`
				Token  string    `json:"token"`
				Expiry time.Time `json:"expiry"`
			} `json:"attributes"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(a.Body), &doc))
	require.Equal(t, keygentest.KindAdmin, doc.Data.Attributes.Kind)
	require.True(t, strings.HasPrefix(doc.Data.Attributes.Token, "admin-"))
	require.Contains(t, a.Body, `"expiry":null`, "Token#set_default_expiry: an admin's token never expires unless asked")
	require.Equal(t, 200, b.do(t, http.MethodGet, "/v1/accounts/acme/me", "", "Authorization", "Bearer "+doc.Data.Attributes.Token).Status)

	require.Equal(t, "PASSWORD_INVALID", errorCode(t, mint("admin@acme.example", "wrong")))
	require.Equal(t, "EMAIL_INVALID", errorCode(t, mint("ghost@acme.example", "x")))
	for range 3 {
		mint("admin@acme.example", "admin-password")
	}
	a = mint("admin@acme.example", "admin-password")
	require.Equal(t, 429, a.Status, "5 a minute per email, failures included")
	require.Equal(t, "auth", a.Header.Get("X-RateLimit-Window"))
	require.Equal(t, 4, b.srv.TokenMints())
}

func TestWebhookCarriesTheResetTokenSigned(t *testing.T) {
	t.Parallel()
	b := setup(t)
	type got struct {
		event, token string
		verr         error
	}
	received := make(chan got, 4)
	fails := 1
	var mu sync.Mutex
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			w.WriteHeader(500)
			return
		}
		var ev struct {
			Data struct {
				Attributes struct {
					Event   string `json:"event"`
					Payload string `json:"payload"`
				} `json:"attributes"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &ev)
		var payload struct {
			Meta struct {
				PasswordResetToken string `json:"passwordResetToken"`
			} `json:"meta"`
		}
		_ = json.Unmarshal([]byte(ev.Data.Attributes.Payload), &payload) // a JSON string inside the JSON
		received <- got{ev.Data.Attributes.Event, payload.Meta.PasswordResetToken, keygentest.VerifyWebhookAt(b.srv.PublicKey(), r, body, b.clock.Now())}
	}))
	defer recv.Close()
	b.srv.SetWebhook(b.acct, recv.URL+"/hooks/keygen")
	b.srv.SetWebhookRetries(3, 10*time.Millisecond)

	require.Equal(t, 204, b.reset(t, b.sample.Emails[0], "false").Status)
	select {
	case g := <-received:
		require.Equal(t, "user.password-reset", g.event)
		require.Equal(t, b.srv.Resets()[0].Token, g.token)
		require.NoError(t, g.verr, "signed with the emulator's ed25519 key")
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook")
	}
	require.Equal(t, 204, b.reset(t, "nobody@example.com", "false").Status)
	// The receiver hands the event over before it answers, and the
	// emulator records the delivery once the answer is in.
	var ds []keygentest.Delivery
	require.Eventually(t, func() bool {
		ds = b.srv.Deliveries()
		return len(ds) == 2 && ds[1].Status != 0
	}, 10*time.Second, 5*time.Millisecond, "the retry's answer is recorded")
	require.Len(t, ds, 2, "one failure and one retry; nothing for an unknown email")
	require.Equal(t, 500, ds[0].Status)
	require.Equal(t, 200, ds[1].Status)
	require.Equal(t, ds[0].EventID, ds[1].EventID)
}

func TestRequestLimitsAndFaults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.SetRequestLimits(2, 0)
	require.Equal(t, 204, b.reset(t, "a@example.com").Status)
	require.Equal(t, 204, b.reset(t, "b@example.com").Status)
	a := b.reset(t, "c@example.com")
	require.Equal(t, 429, a.Status)
	require.Equal(t, "1s", a.Header.Get("X-RateLimit-Window"))
	b.clock.Add(time.Second)
	b.srv.SetRequestLimits(0, 0)

	b.srv.FailNext(keygentest.EndpointPasswords, 1, 503, "")
	a = b.reset(t, "d@example.com")
	require.Equal(t, 503, a.Status)
	require.Equal(t, "SERVICE_UNAVAILABLE", errorCode(t, a))
	require.Equal(t, 204, b.reset(t, "d@example.com").Status)
	require.Len(t, b.srv.RequestsTo(keygentest.EndpointPasswords), 5)
}

func (b *bundle) mintWith(t *testing.T, email, password, body string) answer {
	t.Helper()
	basic := base64.StdEncoding.EncodeToString([]byte(email + ":" + password))
	return testhttp.Do(t, http.MethodPost, b.srv.URL()+"/v1/accounts/acme/tokens", body,
		"Authorization", "Basic "+basic, "Accept", "application/vnd.api+json")
}

func TestMintedTokensKeepTheExpiryAskedForAndCanBeRevoked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.mintWith(t, "admin@acme.example", "admin-password",
		`{"data":{"type":"tokens","attributes":{"name":"resetq","expiry":"2026-11-22T11:00:30Z"}}}`)
	require.Equal(t, 201, a.Status, a.Body)
	var doc struct {
		Data struct {
			ID         string `json:"id"`
			Attributes struct {
				Token  string    `json:"token"`
				Expiry time.Time `json:"expiry"`
			} `json:"attributes"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(a.Body), &doc))
	require.Equal(t, b.clock.Now().Add(time.Hour), doc.Data.Attributes.Expiry)
	require.Len(t, b.srv.LiveTokens(b.acct), 3, "the admin's, the product's and the minted one")

	bearer := "Bearer " + doc.Data.Attributes.Token
	require.Equal(t, 404, b.do(t, http.MethodDelete, "/v1/accounts/acme/tokens/"+newUUID(), "", "Authorization", bearer).Status)
	require.Equal(t, 403, b.do(t, http.MethodDelete, "/v1/accounts/acme/tokens/"+doc.Data.ID, "", "Authorization", "Bearer "+b.product).Status,
		"a product token may not revoke an admin's")
	a = b.do(t, http.MethodDelete, "/v1/accounts/acme/tokens/"+doc.Data.ID, "", "Authorization", bearer)
	require.Equal(t, 204, a.Status, "a token revokes itself")
	require.Empty(t, a.Body)
	a = b.do(t, http.MethodGet, "/v1/accounts/acme/me", "", "Authorization", bearer)
	require.Equal(t, 401, a.Status)
	require.Equal(t, "TOKEN_INVALID", errorCode(t, a))
	require.Len(t, b.srv.LiveTokens(b.acct), 2)

	b.clock.Add(time.Hour)
	id := b.srv.AddUser(b.acct, keygentest.User{Email: "member@acme.example", Password: "member-password"})
	require.NotEmpty(t, id)
	a = b.mintWith(t, "member@acme.example", "member-password", "")
	require.Equal(t, 201, a.Status, a.Body)
	require.NoError(t, json.Unmarshal([]byte(a.Body), &doc))
	require.Equal(t, b.clock.Now().Add(14*24*time.Hour), doc.Data.Attributes.Expiry, "a role-user bearer's token gets 2 weeks")
}

func newUUID() string { return "1b4e28ba-2fa1-41d2-883f-0016d3cca427" }

// TestForgotPasswordChecksItsParamsAsTypedParams: 400 with a pointer and
// the controller's meta, no code, for every shape typed_params refuses.
func TestForgotPasswordChecksItsParamsAsTypedParams(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tt := range []struct{ body, pointer, detail string }{
		{`{"meta":{}}`, "/meta/email", "is missing"},
		{`{}`, "/meta", "is missing"},
		{`{"meta":{"email":42}}`, "/meta/email", "type mismatch (received integer expected string)"},
		{`{"meta":{"email":"a@example.com","deliver":"no"}}`, "/meta/deliver", "type mismatch (received string expected boolean)"},
		{`{"meta":{"email":""}}`, "/meta/email", "cannot be blank"},
		{`{"meta":{"email":"a@example.com","name":"x"}}`, "/meta/name", "unpermitted parameter"},
		{`{"meta":{"email":"a@example.com"},"data":{}}`, "/data", "unpermitted parameter"},
	} {
		a := b.do(t, http.MethodPost, "/v1/accounts/acme/passwords", tt.body)
		require.Equal(t, 400, a.Status, tt.body)
		var doc struct {
			Meta   map[string]string `json:"meta"`
			Errors []struct {
				Title, Detail, Code string
				Source              map[string]string
			} `json:"errors"`
		}
		require.NoError(t, json.Unmarshal([]byte(a.Body), &doc), tt.body)
		require.NotEmpty(t, doc.Meta["id"], "a controller error carries the request id")
		require.Equal(t, "Bad request", doc.Errors[0].Title)
		require.Equal(t, tt.detail, doc.Errors[0].Detail, tt.body)
		require.Empty(t, doc.Errors[0].Code, tt.body)
		require.Equal(t, map[string]string{"pointer": tt.pointer}, doc.Errors[0].Source, tt.body)
	}
	require.Empty(t, b.srv.Resets())
	a := b.do(t, http.MethodPost, "/v1/accounts/acme/passwords", `{"meta":{"email":"a@example.com"}}`, "Content-Type", "application/json")
	require.Equal(t, 204, a.Status, "plain JSON is accepted")
}

// TestErrorBodiesHaveKeygensShapes: the controllers' errors carry
// meta.id; the throttle's and the middleware's do not; a missing record
// has no source.
func TestErrorBodiesHaveKeygensShapes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	hasMeta := func(a answer) bool {
		var doc map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(a.Body), &doc), a.Body)
		_, ok := doc["meta"]
		return ok
	}
	admin := []string{"Authorization", "Bearer " + b.admin}
	a := b.do(t, http.MethodGet, "/v1/accounts/nope/me", "", admin...)
	require.Equal(t, 404, a.Status)
	require.True(t, hasMeta(a))
	require.JSONEq(t, `[{"title":"Not found","detail":"The requested account 'nope' was not found","code":"NOT_FOUND"}]`, errorsOf(t, a))
	a = b.do(t, http.MethodGet, "/v1/accounts/acme/users/nobody@example.com", "", admin...)
	require.JSONEq(t, `[{"title":"Not found","detail":"The requested user 'nobody@example.com' was not found","code":"NOT_FOUND"}]`, errorsOf(t, a))
	a = b.do(t, http.MethodGet, "/v1/accounts/acme/me", "")
	require.True(t, hasMeta(a))
	require.JSONEq(t, `[{"title":"Unauthorized","detail":"You must be authenticated to complete the request","code":"TOKEN_MISSING","links":{"about":"https://keygen.sh/docs/api/authentication/"}}]`, errorsOf(t, a))
	a = b.do(t, http.MethodGet, "/v1/accounts/acme/me", "", append(admin, "Keygen-Version", "0.1")...)
	require.True(t, hasMeta(a), "INVALID_API_VERSION is rescued in the controller")
	a = b.do(t, http.MethodGet, "/v1/accounts/acme/me", "", append(admin, "Accept", "text/html")...)
	require.Equal(t, "MIME_TYPE_INVALID", errorCode(t, a))
	require.False(t, hasMeta(a), "the middleware's error has no meta")
	for range 5 {
		b.reset(t, "x@example.com")
	}
	a = b.reset(t, "x@example.com")
	require.Equal(t, 429, a.Status)
	require.False(t, hasMeta(a), "rack-attack's error has no meta")
}

func errorsOf(t *testing.T, a answer) string {
	t.Helper()
	var doc struct {
		Errors json.RawMessage `json:"errors"`
	}
	require.NoError(t, json.Unmarshal([]byte(a.Body), &doc), a.Body)
	return string(doc.Errors)
}

// TestCompletionChecksInKeygensOrder: the user, then the policy (a
// protected account's managed user), then the parameters, then the token,
// then its age, then the password.
func TestCompletionChecksInKeygensOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.Update(func() { b.acct.Protected = true })
	complete := func(user, body string) answer {
		return b.do(t, http.MethodPost, "/v1/accounts/acme/users/"+user+"/actions/reset-password", body)
	}
	require.Equal(t, 404, complete("nobody@example.com", `{}`).Status, "no user: 404 before the parameters are read")
	require.Equal(t, 403, complete(b.sample.Managed, `{"meta":{"passwordResetToken":"wrong","newPassword":"long-enough"}}`).Status,
		"the policy is checked before the token")
	require.Equal(t, 403, complete(b.sample.Managed, `{}`).Status, "and before the parameters")
	user := b.sample.Emails[0]
	a := complete(user, `{"meta":{"newPassword":"long-enough"}}`)
	require.Equal(t, 400, a.Status)
	require.Contains(t, a.Body, `"pointer":"/meta/passwordResetToken"`)
	require.Equal(t, 404, complete(user, `{"meta":{"passwordResetToken":"wrong","newPassword":"x"}}`).Status,
		"a wrong token before a short password")
	b.reset(t, user)
	tok := b.srv.Resets()[0].Token
	b.clock.Add(25 * time.Hour)
	require.Equal(t, 401, complete(user, `{"meta":{"passwordResetToken":"`+tok+`","newPassword":"x"}}`).Status,
		"an expired token before a short password")
}

// TestWebhookSignatureCoversHostWithoutPortAndQuery: Keygen signs the
// endpoint URL's host without its port and its path with the query.
func TestWebhookSignatureCoversHostWithoutPortAndQuery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	type got struct {
		req  *http.Request
		body []byte
	}
	received := make(chan got, 1)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		received <- got{r.Clone(r.Context()), body}
	}))
	defer recv.Close()
	b.srv.SetWebhook(b.acct, recv.URL+"/hooks/keygen?source=keygen&v=1")
	require.Equal(t, 204, b.reset(t, b.sample.Emails[0], "false").Status)
	var g got
	select {
	case g = <-received:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook")
	}
	require.NoError(t, keygentest.VerifyWebhookAt(b.srv.PublicKey(), g.req, g.body, b.clock.Now()))
	require.Empty(t, g.req.Header.Get("X-Signature"), "no legacy signature for an account made today")

	// The signing string, built by hand as WebhookWorker builds it.
	sig := g.req.Header.Get("Keygen-Signature")
	require.Contains(t, sig, `keyid="`+b.acct.ID+`", algorithm="ed25519"`)
	raw := sig[strings.Index(sig, `signature="`)+len(`signature="`):]
	raw = raw[:strings.Index(raw, `"`)]
	sigBytes, err := base64.StdEncoding.DecodeString(raw)
	require.NoError(t, err)
	signing := "(request-target): post /hooks/keygen?source=keygen&v=1\nhost: 127.0.0.1\ndate: " +
		g.req.Header.Get("Date") + "\ndigest: " + g.req.Header.Get("Digest")
	require.True(t, ed25519.Verify(b.srv.PublicKey(), []byte(signing), sigBytes), "host without port, path with query")

	tampered := g.req.Clone(g.req.Context())
	tampered.RequestURI = "/hooks/keygen?source=keygen&v=2"
	require.Error(t, keygentest.VerifyWebhookAt(b.srv.PublicKey(), tampered, g.body, b.clock.Now()), "the query is signed")
	require.ErrorContains(t, keygentest.VerifyWebhookAt(b.srv.PublicKey(), g.req, g.body, b.clock.Now().Add(10*time.Minute)),
		"not within", "a delivery replayed later is refused")
	require.ErrorContains(t, keygentest.VerifyWebhookAt(b.srv.PublicKey(), g.req, append(g.body, ' '), b.clock.Now()), "digest")
}

// TestWebhookToARefusedConnectionIsNeverRetried: Keygen marks the event
// FAILED at once; only error statuses and timeouts are retried.
func TestWebhookToARefusedConnectionIsNeverRetried(t *testing.T) {
	t.Parallel()
	b := setup(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close() // nothing listens there now
	b.srv.SetWebhook(b.acct, url+"/hooks")
	b.srv.SetWebhookRetries(3, time.Millisecond)
	require.Equal(t, 204, b.reset(t, b.sample.Emails[0], "false").Status)
	b.srv.WaitForWebhooks()
	ds := b.srv.Deliveries()
	require.Len(t, ds, 1, "one attempt, no retry")
	require.True(t, ds[0].Failed)
	require.Contains(t, ds[0].Err, "refused")
}

func TestWebhookEndpointsAreListedAndDeliveredAsKeygenDoes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var mu sync.Mutex
	hits := map[string]int{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
	}))
	defer recv.Close()
	me := b.do(t, http.MethodGet, "/v1/accounts/acme/me", "", "Authorization", "Bearer "+b.product)
	var doc struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(me.Body), &doc))
	productID := doc.Data.ID
	b.srv.AddWebhookEndpoint(b.acct, keygentest.WebhookEndpoint{URL: recv.URL + "/all", Subscriptions: []string{"*"}})
	b.srv.AddWebhookEndpoint(b.acct, keygentest.WebhookEndpoint{URL: recv.URL + "/licenses", Subscriptions: []string{"license.created"}})
	b.srv.AddWebhookEndpoint(b.acct, keygentest.WebhookEndpoint{URL: recv.URL + "/product", Subscriptions: []string{"user.password-reset"}, Product: productID})
	for i := range 12 {
		b.srv.AddWebhookEndpoint(b.acct, keygentest.WebhookEndpoint{URL: fmt.Sprintf("%s/spare-%d", recv.URL, i), Subscriptions: []string{"machine.created"}})
	}

	list := func(bearer, query string) (int, []string) {
		a := b.do(t, http.MethodGet, "/v1/accounts/acme/webhook-endpoints"+query, "", "Authorization", "Bearer "+bearer)
		var doc struct {
			Data []struct {
				Attributes struct {
					URL string `json:"url"`
				} `json:"attributes"`
			} `json:"data"`
		}
		if a.Status == 200 {
			require.NoError(t, json.Unmarshal([]byte(a.Body), &doc))
		}
		var urls []string
		for _, d := range doc.Data {
			urls = append(urls, d.Attributes.URL)
		}
		return a.Status, urls
	}
	status, urls := list(b.admin, "")
	require.Equal(t, 200, status)
	require.Len(t, urls, 10, "the first 10 without a page")
	_, urls = list(b.admin, "?page[number]=1&page[size]=100")
	require.Len(t, urls, 15)
	_, urls = list(b.admin, "?page[number]=2&page[size]=10")
	require.Len(t, urls, 5)
	_, urls = list(b.product, "?page[number]=1&page[size]=100")
	require.Equal(t, []string{recv.URL + "/product"}, urls, "a product sees its own endpoints")
	status, _ = list("nonsense", "")
	require.Equal(t, 401, status)

	require.Equal(t, 204, b.reset(t, b.sample.Emails[0], "false").Status)
	require.Equal(t, 204, b.reset(t, "admin@acme.example", "false").Status)
	b.srv.WaitForWebhooks()
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, map[string]int{"/all": 2, "/product": 1}, hits,
		"* takes every event; a product's endpoint gets no staff user's; others are not subscribed")
}

// TestEnvironmentsAsEnterpriseEdition: a header on Community Edition is
// refused; on Enterprise Edition a lookup without it sees only global
// users, and an unknown environment is refused. Product tokens never see
// staff.
func TestEnvironmentsAsEnterpriseEdition(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.AddUser(b.acct, keygentest.User{Email: "prod-user@example.com", Environment: "production"})
	admin := []string{"Authorization", "Bearer " + b.admin}
	path := "/v1/accounts/acme/users/prod-user@example.com"
	a := b.do(t, http.MethodGet, path, "", append(admin, "Keygen-Environment", "production")...)
	require.Equal(t, 400, a.Status)
	require.Equal(t, "ENVIRONMENT_NOT_SUPPORTED", errorCode(t, a))

	b.srv.SetEdition(keygentest.EditionEE)
	b.srv.Update(func() { b.acct.Environments = []string{"production"} })
	require.Equal(t, 404, b.do(t, http.MethodGet, path, "", admin...).Status, "without the header: global users only")
	a = b.do(t, http.MethodGet, path, "", append(admin, "Keygen-Environment", "production")...)
	require.Equal(t, 200, a.Status)
	require.Equal(t, "EE", a.Header.Get("Keygen-Edition"))
	a = b.do(t, http.MethodGet, path, "", append(admin, "Keygen-Environment", "staging")...)
	require.Equal(t, "ENVIRONMENT_INVALID", errorCode(t, a))
	require.Equal(t, 204, b.reset(t, "prod-user@example.com").Status, "the forgot-password call finds users in any environment")
	require.True(t, b.srv.Resets()[0].Known)

	a = b.do(t, http.MethodGet, "/v1/accounts/acme/users/admin@acme.example", "", "Authorization", "Bearer "+b.product)
	require.Equal(t, 404, a.Status, "a product token cannot see staff")
	require.Equal(t, 200, b.do(t, http.MethodGet, "/v1/accounts/acme/users/"+b.sample.Emails[0], "", "Authorization", "Bearer "+b.product).Status)
}

// TestBannedUsersGetTheResetAnyway: Keygen does not look at the ban.
func TestBannedUsersGetTheResetAnyway(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NotEmpty(t, b.sample.Banned)
	require.Equal(t, 204, b.reset(t, b.sample.Banned[0]).Status)
	require.True(t, b.srv.Resets()[0].Known)
	require.Equal(t, 1, b.srv.Emails())
}
