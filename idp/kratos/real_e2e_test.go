//go:build e2e

package kratos_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

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

func startReal(t *testing.T, cfg realidp.KratosConfig) *realKratos {
	t.Helper()
	k, m := realidp.NewTestKratos(t, cfg)
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

// mail waits for the n-th mail to addr and returns its text.
func (r *realKratos) mail(t *testing.T, addr string, n int) string {
	t.Helper()
	msgs, err := r.m.WaitFor(t.Context(), "to:"+addr, n)
	require.NoError(t, err)
	text, _, err := r.m.Body(t.Context(), msgs[0].ID) // newest first
	require.NoError(t, err)
	return text
}

var linkRE = regexp.MustCompile(`http://\S+/self-service/recovery\?\S+`)

// follow opens a recovery link as the user's browser does, and returns
// where Kratos sends it and whether it got a session.
func follow(t *testing.T, link string) (location string, session bool) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, link, nil)
	require.NoError(t, err)
	res, err := client.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	for _, c := range res.Cookies() {
		session = session || c.Name == "ory_kratos_session" && c.Value != ""
	}
	return res.Header.Get("Location"), session
}

func TestARealKratosMailsALinkThatRecoversTheAccount(t *testing.T) {
	t.Parallel()
	// Kratos' own default: its pages recover by code; the link method is
	// enabled beside it for resetq.
	r := startReal(t, realidp.KratosConfig{Method: kratos.MethodCode, LinkEnabled: true})
	ctx := t.Context()
	alice, err := r.k.CreateIdentity(ctx, "alice@example.org")
	require.NoError(t, err)
	p := r.provider(t, kratos.Config{AdminURL: r.k.AdminURL(), VerifyUser: true})

	report, err := p.Check(ctx)
	require.NoError(t, err)
	require.Contains(t, strings.Join(report.Lines, "\n"), `method "link" available`)
	require.Empty(t, report.Warnings)
	msgs, err := r.m.Messages(ctx)
	require.NoError(t, err)
	require.Empty(t, msgs, "Check mails nobody")

	require.NoError(t, p.Reset(ctx, idp.Request{TaskID: "t1", User: idp.UserRef{Email: "alice@example.org"}}))
	first := linkRE.FindString(r.mail(t, "alice@example.org", 1))
	require.NoError(t, p.Reset(ctx, idp.Request{TaskID: "t2", User: idp.UserRef{ID: alice.ID}}))
	second := linkRE.FindString(r.mail(t, "alice@example.org", 2))
	require.NotEmpty(t, first)
	require.NotEqual(t, first, second, "each reset mails a link of its own")

	// The mail alone is enough: the link signs the user in and sends them
	// to the settings flow, where the new password is set.
	location, session := follow(t, second)
	require.Contains(t, location, "/settings?flow=")
	require.True(t, session, "the link signs the user in")
}

func TestARealKratosCodeWorksWithATemplateThatCarriesTheFlow(t *testing.T) {
	t.Parallel()
	r := startReal(t, realidp.KratosConfig{Method: kratos.MethodCode, FlowInCodeMail: true})
	ctx := t.Context()
	_, err := r.k.CreateIdentity(ctx, "dave@example.org")
	require.NoError(t, err)
	p := r.provider(t, kratos.Config{Method: kratos.MethodCode})

	report, err := p.Check(ctx)
	require.NoError(t, err)
	require.Len(t, report.Warnings, 2, "the code mail's template, and no admin_url")
	require.Contains(t, report.Warnings[0], "TransientPayload.flow_id")

	require.NoError(t, p.Reset(ctx, idp.Request{TaskID: "t", User: idp.UserRef{Email: "dave@example.org"}}))
	text := r.mail(t, "dave@example.org", 1)
	code := regexp.MustCompile(`code: (\d{6})`).FindStringSubmatch(text)
	flow := regexp.MustCompile(`flow: (\S+)`).FindStringSubmatch(text)
	require.Len(t, code, 2, text)
	require.Len(t, flow, 2, text)
	settings, err := r.k.RecoverWithCode(ctx, flow[1], code[1])
	require.NoError(t, err)
	require.Contains(t, settings, "/settings?flow=", "signed in, on to choose a new password")
}

func TestARealKratosSaysWhoCannotBeReset(t *testing.T) {
	t.Parallel()
	r := startReal(t, realidp.KratosConfig{LinkEnabled: true})
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
	r := startReal(t, realidp.KratosConfig{Method: kratos.MethodCode}) // link off: Kratos' default
	ctx := t.Context()
	_, err := r.k.CreateIdentity(ctx, "carol@example.org")
	require.NoError(t, err)
	req := idp.Request{TaskID: "t", User: idp.UserRef{Email: "carol@example.org"}}

	byLink := r.provider(t, kratos.Config{})
	err = byLink.Reset(ctx, req)
	require.Equal(t, idp.Configuration, kindOf(t, err), "%v", err)
	require.Contains(t, idp.AsError(err).Hint, "selfservice.methods.link.enabled")
	_, err = byLink.Check(ctx)
	require.Equal(t, idp.Configuration, kindOf(t, err), "%v", err)

	// Kratos sends self-service routes on from its admin port to the
	// public one and admin routes the other way, so swapping the two URLs
	// works; another server in their place does not.
	byCode := kratos.Config{Method: kratos.MethodCode}
	byCode.PublicURL, byCode.AdminURL = r.k.AdminURL(), r.k.PublicURL()
	_, err = r.provider(t, byCode).Check(ctx)
	require.NoError(t, err)
	byCode.PublicURL, byCode.AdminURL = r.m.URL(), ""
	require.Equal(t, idp.Configuration, kindOf(t, r.provider(t, byCode).Reset(ctx, req)))
	byCode.PublicURL, byCode.AdminURL, byCode.VerifyUser = r.k.PublicURL(), r.m.URL(), true
	notAdmin := r.provider(t, byCode)
	_, err = notAdmin.Check(ctx)
	require.Equal(t, idp.Configuration, kindOf(t, err), "%v", err)
	require.Equal(t, idp.Configuration, kindOf(t, notAdmin.Reset(ctx, req)))

	msgs, err := r.m.Messages(ctx)
	require.NoError(t, err)
	require.Empty(t, msgs, "nothing went out")
}
