//go:build e2e

package kratos_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/kratos"
	"github.com/resetq/resetq/internal/realidp"
)

// realKratos is a real Kratos mailing a real Mailpit.
type realKratos struct {
	k *realidp.Kratos
	m *realidp.Mailpit
}

func startReal(t *testing.T, method string) *realKratos {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute) // a cold Kratos build takes about 15
	defer cancel()
	m, err := realidp.StartMailpit(ctx, realidp.MailpitConfig{})
	require.NoError(t, err)
	t.Cleanup(m.Stop)
	k, err := realidp.StartKratos(ctx, realidp.KratosConfig{Method: method, SMTPURL: "smtp://" + m.SMTPAddr() + "/?disable_starttls=true"})
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the end of kratos's log:\n%s", k.LogTail(40))
		}
		k.Stop()
	})
	return &realKratos{k: k, m: m}
}

func (r *realKratos) provider(t *testing.T, cfg kratos.Config) *kratos.Provider {
	t.Helper()
	if cfg.PublicURL == "" {
		cfg.PublicURL = r.k.PublicURL()
	}
	p, err := kratos.New(cfg)
	require.NoError(t, err)
	return p
}

func kindOf(t *testing.T, err error) idp.Kind {
	t.Helper()
	require.Error(t, err)
	return idp.AsError(err).Kind
}

// mailedCode waits for the n-th mail to addr and returns the code in it.
func (r *realKratos) mailedCode(t *testing.T, addr string, n int) string {
	t.Helper()
	msgs, err := r.m.WaitFor(t.Context(), "to:"+addr, n)
	require.NoError(t, err)
	text, _, err := r.m.Body(t.Context(), msgs[0].ID) // newest first
	require.NoError(t, err)
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(text)
	require.NotEmpty(t, code, "a six-digit code in the mail to %s", addr)
	return code
}

func TestARealKratosResetsByEmailAndByIDAndTheCodeRecoversTheAccount(t *testing.T) {
	t.Parallel()
	r := startReal(t, kratos.MethodCode)
	ctx := t.Context()
	alice, err := r.k.CreateIdentity(ctx, "alice@example.org")
	require.NoError(t, err)
	p := r.provider(t, kratos.Config{AdminURL: r.k.AdminURL(), VerifyUser: true})

	report, err := p.Check(ctx)
	require.NoError(t, err)
	require.Contains(t, strings.Join(report.Lines, "\n"), `method "code"`)
	require.Empty(t, report.Warnings)

	require.NoError(t, p.Reset(ctx, idp.Request{TaskID: "t1", User: idp.UserRef{Email: "alice@example.org"}}))
	first := r.mailedCode(t, "alice@example.org", 1)
	require.NoError(t, p.Reset(ctx, idp.Request{TaskID: "t2", User: idp.UserRef{ID: alice.ID}}))
	second := r.mailedCode(t, "alice@example.org", 2)
	require.NotEqual(t, first, second, "each reset mails a code of its own")

	// The user's side: a recovery flow of their own, their address, then
	// the code from the mail, which signs them in and leads to the
	// settings flow where the new password is set.
	flowID := startFlow(t, r.k.PublicURL())
	status, _ := post(t, r.k.PublicURL()+"/self-service/recovery?flow="+flowID, map[string]string{"method": "code", "email": "alice@example.org"})
	require.Equal(t, http.StatusOK, status)
	code := r.mailedCode(t, "alice@example.org", 3)
	status, done := post(t, r.k.PublicURL()+"/self-service/recovery?flow="+flowID, map[string]string{"method": "code", "code": code})
	require.Equal(t, http.StatusUnprocessableEntity, status, done)
	require.Contains(t, done, "/settings?flow=")
}

func TestARealKratosSaysWhoCannotBeReset(t *testing.T) {
	t.Parallel()
	r := startReal(t, kratos.MethodCode)
	ctx := t.Context()
	bob, err := r.k.CreateIdentity(ctx, "bob@example.org")
	require.NoError(t, err)
	require.NoError(t, r.k.SetIdentityState(ctx, bob.ID, "inactive"))
	verify := r.provider(t, kratos.Config{AdminURL: r.k.AdminURL(), VerifyUser: true})
	plain := r.provider(t, kratos.Config{AdminURL: r.k.AdminURL()})

	for name, c := range map[string]struct {
		p    *kratos.Provider
		user idp.UserRef
		want idp.Kind
	}{
		"an unknown email, verified":  {verify, idp.UserRef{Email: "nobody@example.org"}, idp.UserNotFound},
		"an unknown id":               {plain, idp.UserRef{ID: "8f1e3c52-6a0b-4f64-9d8e-2b1c7e5a9f30"}, idp.UserNotFound},
		"an id that is no UUID":       {plain, idp.UserRef{ID: "alice"}, idp.UserNotFound},
		"an inactive identity by id":  {plain, idp.UserRef{ID: bob.ID}, idp.UserDisabled},
		"an inactive identity, email": {verify, idp.UserRef{Email: "bob@example.org"}, idp.UserDisabled},
		"a malformed address":         {plain, idp.UserRef{Email: "not-an-address"}, idp.InvalidRequest},
		"a username":                  {plain, idp.UserRef{Username: "bob"}, idp.InvalidRequest},
	} {
		t.Run(name, func(t *testing.T) {
			err := c.p.Reset(ctx, idp.Request{TaskID: "t", User: c.user})
			require.Equal(t, c.want, kindOf(t, err), "%v", err)
			require.NotContains(t, err.Error(), "not-an-address", "errors do not quote the address")
		})
	}

	// Without verify_user an unknown address is accepted, as Kratos
	// answers alike for every address, and nothing is mailed.
	require.NoError(t, plain.Reset(ctx, idp.Request{TaskID: "t", User: idp.UserRef{Email: "nobody@example.org"}}))
	msgs, err := r.m.Messages(ctx)
	require.NoError(t, err)
	require.Empty(t, msgs, "no mail went out for any of these")
}

func TestARealKratosMisconfiguredHalts(t *testing.T) {
	t.Parallel()
	r := startReal(t, kratos.MethodLink)
	ctx := t.Context()
	_, err := r.k.CreateIdentity(ctx, "carol@example.org")
	require.NoError(t, err)
	req := idp.Request{TaskID: "t", User: idp.UserRef{Email: "carol@example.org"}}

	wrongMethod := r.provider(t, kratos.Config{Method: kratos.MethodCode})
	require.Equal(t, idp.Configuration, kindOf(t, wrongMethod.Reset(ctx, req)))
	_, err = wrongMethod.Check(ctx)
	require.Equal(t, idp.Configuration, kindOf(t, err))
	require.Contains(t, idp.AsError(err).Hint, `"link"`)

	// Kratos sends self-service routes on from its admin port to the
	// public one and admin routes the other way, so swapping the two URLs
	// works; another server in their place does not.
	notKratos := r.provider(t, kratos.Config{PublicURL: r.m.URL()})
	err = notKratos.Reset(ctx, req)
	require.Equal(t, idp.Configuration, kindOf(t, err), "%v", err)

	swapped := r.provider(t, kratos.Config{PublicURL: r.k.AdminURL(), AdminURL: r.k.PublicURL(), VerifyUser: true})
	_, err = swapped.Check(ctx)
	require.NoError(t, err)
	notAdmin := r.provider(t, kratos.Config{AdminURL: r.m.URL(), VerifyUser: true})
	_, err = notAdmin.Check(ctx)
	require.Equal(t, idp.Configuration, kindOf(t, err), "%v", err)
	require.Equal(t, idp.Configuration, kindOf(t, notAdmin.Reset(ctx, req)))

	// The method the server names is used when none is configured.
	follows := r.provider(t, kratos.Config{})
	require.NoError(t, follows.Reset(ctx, req))
	msgs, err := r.m.WaitFor(ctx, "to:carol@example.org", 1)
	require.NoError(t, err)
	text, _, err := r.m.Body(ctx, msgs[0].ID)
	require.NoError(t, err)
	require.Contains(t, text, "/self-service/recovery?flow=", "a recovery link")
}

func startFlow(t *testing.T, public string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, public+"/self-service/recovery/api", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var f struct{ ID string }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&f))
	return f.ID
}

func post(t *testing.T, url string, body any) (int, string) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(string(b)))
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var out json.RawMessage
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, string(out)
}
