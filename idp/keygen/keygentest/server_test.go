package keygentest_test

import (
	"encoding/json"
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
)

type bundle struct {
	srv     *keygentest.Server
	acct    *keygentest.Account
	admin   string // admin token
	product string // product token
	sample  keygentest.Sample
	now     time.Time
	mu      sync.Mutex
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{now: time.Date(2026, 11, 22, 10, 0, 30, 0, time.UTC)}
	b.srv = keygentest.NewServer(keygentest.WithClock(b.clock))
	t.Cleanup(b.srv.Close)
	b.acct = b.srv.AddAccount(keygentest.Account{Slug: "acme"})
	b.admin = b.srv.AddAdmin(b.acct, "admin@acme.example", "admin-password")
	b.product = b.srv.AddProduct(b.acct, "Widget")
	b.sample = b.srv.AddSampleUsers(b.acct, 12)
	return b
}

func (b *bundle) clock() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.now
}

func (b *bundle) advance(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.now = b.now.Add(d)
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (b *bundle) do(t *testing.T, method, path, body string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, b.srv.URL()+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Accept", "application/vnd.api+json")
	if body != "" {
		req.Header.Set("Content-Type", "application/vnd.api+json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, strings.TrimSpace(string(raw))}
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
	require.NoError(t, json.Unmarshal([]byte(a.body), &doc), a.body)
	require.NotEmpty(t, doc.Errors, a.body)
	return doc.Errors[0].Code
}

func TestForgotPasswordAnswers204ForEveryone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	known := b.sample.Emails[0]
	require.Equal(t, 204, b.reset(t, strings.ToUpper(known)).status, "case does not matter")
	require.Equal(t, 204, b.reset(t, "nobody@example.com").status, "unknown emails get 204 too, on purpose")
	require.Equal(t, 204, b.reset(t, b.sample.Emails[1], "false").status)

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
	require.Equal(t, 400, a.status)
	require.Contains(t, a.body, `"pointer":"/meta/email"`)
	require.Equal(t, "application/vnd.api+json; charset=utf-8", a.header.Get("Content-Type"))
	require.Equal(t, keygentest.APIVersion, a.header.Get("Keygen-Version"))
}

func TestResetThrottleIsFivePerHourPerEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	email := b.sample.Emails[0]
	for i := range 5 {
		require.Equal(t, 204, b.reset(t, email).status, "reset %d", i+1)
	}
	a := b.reset(t, strings.ToUpper(email))
	require.Equal(t, 429, a.status)
	require.JSONEq(t, `{"errors":[{"title":"Too many requests","detail":"Throttle limit has been reached for your IP address. Please slow down. See https://keygen.sh/docs/api/rate-limiting/ for more info.","code":"TOO_MANY_REQUESTS"}]}`, a.body)
	require.Equal(t, "rstpwd", a.header.Get("X-RateLimit-Window"))
	require.Equal(t, "6", a.header.Get("X-RateLimit-Count"))
	require.Equal(t, "5", a.header.Get("X-RateLimit-Limit"))
	require.Equal(t, "0", a.header.Get("X-RateLimit-Remaining"))
	hour := time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC)
	require.Equal(t, strconv.FormatInt(hour.Unix(), 10), a.header.Get("X-RateLimit-Reset"))
	require.Equal(t, "3570", a.header.Get("Retry-After"), "seconds to the end of the window")

	require.Equal(t, 204, b.reset(t, b.sample.Emails[1]).status, "another email is not throttled")
	b.advance(time.Hour)
	require.Equal(t, 204, b.reset(t, email).status, "a new window")
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
	require.Equal(t, 404, a.status, "the first link no longer works")
	require.Contains(t, a.body, "The requested user '"+email+"' was not found")
	require.Equal(t, 422, complete(rs[1].Token, "short").status)
	require.Equal(t, 200, complete(rs[1].Token, "new-password").status)
	require.Equal(t, 404, complete(rs[1].Token, "again-password").status, "a token works once")

	b.reset(t, email)
	b.advance(25 * time.Hour)
	a = complete(b.srv.Resets()[2].Token, "new-password")
	require.Equal(t, 401, a.status)
	require.Contains(t, a.body, `"detail":"is expired"`)
}

func TestProtectedAccountsRefuseManagedUsers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.Update(func() { b.acct.Protected = true })
	require.Equal(t, 204, b.reset(t, b.sample.Managed).status, "the request itself still answers 204")
	tok := b.srv.Resets()[0].Token
	a := b.do(t, http.MethodPost, "/v1/accounts/acme/users/"+b.sample.Managed+"/actions/reset-password",
		`{"meta":{"passwordResetToken":"`+tok+`","newPassword":"first-password"}}`)
	require.Equal(t, 403, a.status)
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
		require.Equal(t, 401, a.status, tt.name)
		require.Equal(t, tt.code, errorCode(t, a), tt.name)
		require.Equal(t, `Bearer realm="keygen"`, a.header.Get("WWW-Authenticate"), tt.name)
	}
	a := b.do(t, http.MethodGet, path, "", "Authorization", "Bearer "+b.admin)
	require.Equal(t, 200, a.status)
	require.Contains(t, a.body, `"email":"`+b.sample.Emails[0]+`"`)
	require.Equal(t, 200, b.do(t, http.MethodGet, path, "", "Authorization", "Bearer "+b.product).status)
	a = b.do(t, http.MethodGet, "/v1/accounts/acme/users/nobody@example.com", "", "Authorization", "Bearer "+b.admin)
	require.Equal(t, 404, a.status)
	require.Contains(t, a.body, "The requested user 'nobody@example.com' was not found")

	b.srv.ExpireAllTokens()
	a = b.do(t, http.MethodGet, path, "", "Authorization", "Bearer "+b.admin)
	require.Equal(t, 401, a.status)
	require.Equal(t, "TOKEN_EXPIRED", errorCode(t, a))
	a = b.do(t, http.MethodPost, "/v1/accounts/acme/passwords", `{"meta":{"email":"a@example.com"}}`, "Authorization", "Bearer "+b.admin)
	require.Equal(t, 401, a.status, "a bearer on the forgot-password route is checked when given") // [infer]
}

func TestVersionAndMediaTypes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.do(t, http.MethodGet, "/v1/accounts/acme/me", "", "Authorization", "Bearer "+b.admin, "Keygen-Version", "v1.7")
	require.Equal(t, 200, a.status)
	require.Equal(t, "1.7", a.header.Get("Keygen-Version"), "echoed, leading v stripped")
	require.Contains(t, a.body, `"role":"admin"`)
	a = b.do(t, http.MethodGet, "/v1/accounts/acme/me", "", "Authorization", "Bearer "+b.admin, "Keygen-Version", "9.9")
	require.Equal(t, 400, a.status)
	require.Equal(t, "INVALID_API_VERSION", errorCode(t, a))
	a = b.do(t, http.MethodGet, "/v1/accounts/acme/me", "", "Authorization", "Bearer "+b.admin, "Accept", "text/html")
	require.Equal(t, 400, a.status)
	require.Equal(t, "MIME_TYPE_INVALID", errorCode(t, a))
	a = b.do(t, http.MethodGet, "/v1/accounts/acme/me", "", "Authorization", "Bearer "+b.product)
	require.Contains(t, a.body, `"type":"products"`)
	a = b.do(t, http.MethodGet, "/v1/accounts/nope/me", "", "Authorization", "Bearer "+b.admin)
	require.Equal(t, 404, a.status)
	require.Contains(t, a.body, "The requested account 'nope' was not found")
	a = b.do(t, http.MethodGet, "/v1/accounts/acme/licenses", "")
	require.Equal(t, 404, a.status)
}

func TestMintingTokensWithBasicAuth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mint := func(user, pass string) answer {
		req, _ := http.NewRequest(http.MethodPost, b.srv.URL()+"/v1/accounts/"+b.acct.ID+"/tokens", nil)
		req.SetBasicAuth(user, pass)
		req.Header.Set("Accept", "application/vnd.api+json")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return answer{res.StatusCode, res.Header, string(raw)}
	}
	a := mint("admin@acme.example", "admin-password")
	require.Equal(t, 201, a.status, a.body)
	require.NotEmpty(t, a.header.Get("Location"))
	var doc struct {
		Data struct {
			Attributes struct {
				Kind   string    `json:"kind"`
				Token  string    `json:"token"`
				Expiry time.Time `json:"expiry"`
			} `json:"attributes"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(a.body), &doc))
	require.Equal(t, keygentest.KindAdmin, doc.Data.Attributes.Kind)
	require.True(t, strings.HasPrefix(doc.Data.Attributes.Token, "admin-"))
	require.Equal(t, b.clock().Add(14*24*time.Hour), doc.Data.Attributes.Expiry.UTC())
	require.Equal(t, 200, b.do(t, http.MethodGet, "/v1/accounts/acme/me", "", "Authorization", "Bearer "+doc.Data.Attributes.Token).status)

	require.Equal(t, "PASSWORD_INVALID", errorCode(t, mint("admin@acme.example", "wrong")))
	require.Equal(t, "EMAIL_INVALID", errorCode(t, mint("ghost@acme.example", "x")))
	for range 3 {
		mint("admin@acme.example", "admin-password")
	}
	a = mint("admin@acme.example", "admin-password")
	require.Equal(t, 429, a.status, "5 a minute per email, failures included")
	require.Equal(t, "auth", a.header.Get("X-RateLimit-Window"))
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
		received <- got{ev.Data.Attributes.Event, payload.Meta.PasswordResetToken, keygentest.VerifyWebhook(b.srv.PublicKey(), r, body)}
	}))
	defer recv.Close()
	b.srv.SetWebhook(b.acct, recv.URL+"/hooks/keygen")
	b.srv.SetWebhookRetries(3, 10*time.Millisecond)

	require.Equal(t, 204, b.reset(t, b.sample.Emails[0], "false").status)
	select {
	case g := <-received:
		require.Equal(t, "user.password-reset", g.event)
		require.Equal(t, b.srv.Resets()[0].Token, g.token)
		require.NoError(t, g.verr, "signed with the emulator's ed25519 key")
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook")
	}
	require.Equal(t, 204, b.reset(t, "nobody@example.com", "false").status)
	ds := b.srv.Deliveries()
	require.Len(t, ds, 2, "one failure and one retry; nothing for an unknown email")
	require.Equal(t, 500, ds[0].Status)
	require.Equal(t, 200, ds[1].Status)
	require.Equal(t, ds[0].EventID, ds[1].EventID)
}

func TestRequestLimitsAndFaults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.SetRequestLimits(2, 0)
	require.Equal(t, 204, b.reset(t, "a@example.com").status)
	require.Equal(t, 204, b.reset(t, "b@example.com").status)
	a := b.reset(t, "c@example.com")
	require.Equal(t, 429, a.status)
	require.Equal(t, "1s", a.header.Get("X-RateLimit-Window"))
	b.advance(time.Second)
	b.srv.SetRequestLimits(0, 0)

	b.srv.FailNext(keygentest.EndpointPasswords, 1, 503, "")
	a = b.reset(t, "d@example.com")
	require.Equal(t, 503, a.status)
	require.Equal(t, "SERVICE_UNAVAILABLE", errorCode(t, a))
	require.Equal(t, 204, b.reset(t, "d@example.com").status)
	require.Len(t, b.srv.RequestsTo(keygentest.EndpointPasswords), 5)
}
