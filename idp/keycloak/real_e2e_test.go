//go:build e2e

package keycloak_test

// The provider against the real Keycloak (make e2e): the conformance suite
// exactly as against the emulator, with the same knobs played by a proxy in
// front of the server, the admin API and the realm's own SMTP relay; and
// what only the real server can show about tokens and status codes.

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/idptest"
	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/realidp"
	"github.com/resetq/resetq/worker"
)

func TestMain(m *testing.M) { realidp.Main(m) }

// realEnv is one test's realm on the real Keycloak behind a fault proxy.
type realEnv struct {
	*realidp.Realm
	proxy *keycloaktest.Proxy
}

func newRealEnv(t *testing.T) *realEnv {
	t.Helper()
	r := realidp.NewTestRealm(t, realidp.TestKeycloak(t))
	proxy, err := keycloaktest.NewProxy(r.KC.URL())
	require.NoError(t, err)
	t.Cleanup(proxy.Close)
	return &realEnv{Realm: r, proxy: proxy}
}

// provider is newProvider's, aimed at this realm through the proxy.
func (e *realEnv) provider(t *testing.T, mutate ...func(*keycloak.Config)) *keycloak.Provider {
	t.Helper()
	realm := func(c *keycloak.Config) {
		c.Realm, c.ClientSecret, c.Timeout = e.Name, realidp.E2EClientSecret, 10*time.Second
	}
	return newProvider(t, e.proxy.URL(), append([]func(*keycloak.Config){realm}, mutate...)...)
}

func TestConformanceAgainstTheRealKeycloak(t *testing.T) {
	t.Parallel()
	idptest.Run(t, func(t *testing.T) *idptest.Env {
		e := newRealEnv(t)
		ctx := context.Background()
		secrets := []string{realidp.E2EClientSecret}
		return &idptest.Env{
			Provider:      e.provider(t),
			Accepts:       keycloak.Accepts,
			Known:         idp.UserRef{Email: "alice@example.org"},
			Unknown:       idp.UserRef{Email: "nobody@example.org"},
			Sent:          func() int { return e.Sent(t, "alice@example.org") },
			Faults:        e.proxy,
			ResetEndpoint: keycloaktest.EndpointExecuteActions,
			RejectCredentials: func() {
				// The secret is rotated in Keycloak and resetq still has the old one.
				s, err := e.KC.RegenerateSecret(ctx, e.Name, "resetq")
				require.NoError(t, err)
				secrets = append(secrets, s)
				require.NoError(t, e.KC.RevokeTokens(ctx, e.Name))
			},
			ExpireTokens:  func() { require.NoError(t, e.KC.RevokeTokens(ctx, e.Name)) },
			TokenRequests: e.proxy.TokenRequests,
			SlowReset: func(d time.Duration) {
				// The relay takes d to accept each mail, well inside Keycloak's
				// own 10 s SMTP timeout: Keycloak sends, late.
				e.Relay.SetDelay(func(step string) time.Duration {
					if step == realidp.StepDot {
						return d
					}
					return 0
				})
			},
			Secrets: func() []string { return append(e.proxy.IssuedTokens(), secrets...) },
			Held:    func() []string { return append(e.proxy.IssuedTokens(), realidp.E2EClientSecret) },
		}
	})
}

// The token endpoint's failures, as Keycloak 26.7.3 gives them, end in a
// halt whose hint points at the right setting.
func TestTokenFailuresOfTheRealServerHaltWithTheRightHint(t *testing.T) {
	t.Parallel()
	e := newRealEnv(t)
	ctx := context.Background()
	viewer, err := e.KC.UserID(ctx, e.Name, "service-account-resetq-viewer")
	require.NoError(t, err)
	require.NoError(t, e.KC.UpdateUser(ctx, e.Name, viewer, map[string]any{"enabled": false}))
	for _, tt := range []struct {
		name   string
		cfg    func(*keycloak.Config)
		kind   idp.Kind
		status int
		code   string
		hint   string
	}{
		{"wrong client secret", func(c *keycloak.Config) { c.ClientSecret = "not-the-secret" },
			idp.Credentials, 401, "unauthorized_client", "auth.client_secret"},
		{"unknown client", func(c *keycloak.Config) { c.ClientID = "ghost" },
			idp.Credentials, 401, "invalid_client", "auth.client_id"},
		{"client without service accounts", func(c *keycloak.Config) {
			c.ClientID, c.ClientSecret = "resetq-nosa", realidp.E2ENoSAClientSecret
		}, idp.Configuration, 401, "unauthorized_client", "Service accounts roles"},
		{"service account disabled", func(c *keycloak.Config) {
			c.ClientID, c.ClientSecret = "resetq-viewer", realidp.E2EViewerClientSecret
		}, idp.Configuration, 401, "invalid_request", "is disabled"},
		{"wrong admin password", func(c *keycloak.Config) {
			c.Grant, c.TokenRealm, c.ClientID, c.ClientSecret, c.Username, c.Password =
				keycloak.GrantPassword, "master", "", "", "admin", "wrong-password"
		}, idp.Credentials, 400, "invalid_grant", "auth.password"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.provider(t, tt.cfg).Check(ctx)
			require.Error(t, err)
			ie := idp.AsError(err)
			require.Equal(t, tt.kind, ie.Kind, "%v", err)
			require.Equal(t, tt.status, ie.Status, "%v", err)
			require.Equal(t, tt.code, ie.Code, "%v", err)
			require.Contains(t, ie.Hint, tt.hint)
			require.Equal(t, worker.Halt, worker.Classify(err).Action)
		})
	}
}

// Keycloak answers 204 and nothing else; a 200 page from something in front
// of it is not a sent mail.
func TestAPageFromAProxyIsNotASentMail(t *testing.T) {
	t.Parallel()
	e := newRealEnv(t)
	e.proxy.Inject(keycloaktest.Fault{Endpoint: keycloaktest.EndpointExecuteActions, Times: 1, Status: 200,
		Body: "<!doctype html><title>Access gateway</title><p>Please sign in"})
	err := e.provider(t).Reset(context.Background(), idp.Request{User: idp.UserRef{Email: "alice@example.org"}})
	require.Error(t, err)
	require.Equal(t, worker.Halt, worker.Classify(err).Action, "%v", err)
	require.Contains(t, idp.AsError(err).Hint, "answers 204")
	require.Zero(t, e.Sent(t, "alice@example.org"))
}

// What the real server's mail failures become.
func TestMailFailuresOfTheRealServer(t *testing.T) {
	t.Parallel()
	reset := func(t *testing.T, e *realEnv, email string) error {
		return e.provider(t).Reset(context.Background(), idp.Request{User: idp.UserRef{Email: email}})
	}
	t.Run("relay down", func(t *testing.T) {
		t.Parallel()
		e := newRealEnv(t)
		e.SendMailTo(t, "127.0.0.1", realidp.ClosedPort(t))
		err := reset(t, e, "alice@example.org")
		require.Equal(t, idp.MailFailed, idp.AsError(err).Kind, "%v", err)
		require.Contains(t, idp.AsError(err).Hint, "SMTP")
	})
	t.Run("relay refuses the login", func(t *testing.T) {
		t.Parallel()
		e := newRealEnv(t)
		e.Relay.RequireAuth("keycloak", "the-right-one")
		e.Update(t, map[string]any{"smtpServer": map[string]any{"host": e.Relay.Host(), "port": strconv.Itoa(e.Relay.Port()),
			"from": "resetq-e2e@example.org", "auth": "true", "user": "keycloak", "password": "a-wrong-one"}})
		err := reset(t, e, "alice@example.org")
		require.Equal(t, idp.MailFailed, idp.AsError(err).Kind, "%v", err)
	})
	t.Run("one mailbox refused with 550", func(t *testing.T) {
		t.Parallel()
		e := newRealEnv(t)
		e.Relay.RefuseRecipient(func(a string) bool { return strings.EqualFold(a, "alice@example.org") }, 550, "5.1.1 mailbox unavailable")
		err := reset(t, e, "alice@example.org")
		require.Equal(t, idp.MailFailed, idp.AsError(err).Kind, "%v: Keycloak answers a 550 as it answers a relay that is down", err)
		require.NoError(t, reset(t, e, "carol+it@example.org"), "others' mail goes out")
	})
	t.Run("non-ASCII local part", func(t *testing.T) {
		t.Parallel()
		e := newRealEnv(t)
		err := reset(t, e, "jürgen@example.org")
		require.Equal(t, idp.RecipientRefused, idp.AsError(err).Kind, "%v", err)
		require.NotContains(t, err.Error(), "jürgen")
		e.Update(t, map[string]any{"smtpServer": map[string]any{"host": e.Relay.Host(), "port": strconv.Itoa(e.Relay.Port()),
			"from": "resetq-e2e@example.org", "allowutf8": "true"}})
		require.NoError(t, reset(t, e, "jürgen@example.org"), "with Allow UTF-8 it goes out")
	})
	t.Run("broken email theme", func(t *testing.T) {
		t.Parallel()
		e := newRealEnv(t)
		e.Update(t, map[string]any{"emailTheme": "resetq-broken"})
		err := reset(t, e, "alice@example.org")
		require.Equal(t, worker.Halt, worker.Classify(err).Action, "%v", err)
		require.Contains(t, idp.AsError(err).Hint, "email theme")
	})
	t.Run("no SMTP configured", func(t *testing.T) {
		t.Parallel()
		e := newRealEnv(t)
		e.Update(t, map[string]any{"smtpServer": map[string]any{}})
		err := reset(t, e, "alice@example.org")
		require.Equal(t, worker.Halt, worker.Classify(err).Action, "%v", err)
		require.Contains(t, idp.AsError(err).Hint, "Realm settings → Email")
	})
}

// A reset whose answer is lost, against the real server: Keycloak's admin
// events confirm it where the realm records them and resetq may read them.
func TestALostAnswerAgainstTheRealServer(t *testing.T) {
	t.Parallel()
	slow := func(e *realEnv, d time.Duration) {
		e.Relay.SetDelay(func(step string) time.Duration {
			if step == realidp.StepDot {
				return d
			}
			return 0
		})
	}
	// A reset timeout shorter than the relay takes, so the answer is lost.
	short := func(c *keycloak.Config) { c.ResetTimeout = time.Second }
	t.Run("events not recorded: unconfirmed, one mail", func(t *testing.T) {
		t.Parallel()
		e := newRealEnv(t)
		slow(e, 4*time.Second)
		err := e.provider(t, short).Reset(context.Background(), idp.Request{User: idp.UserRef{Email: "alice@example.org"}})
		require.Equal(t, idp.Unconfirmed, idp.AsError(err).Kind, "%v", err)
		require.Equal(t, worker.Done, worker.Classify(err).Action)
		require.Contains(t, err.Error(), "view-events")
		require.Eventually(t, func() bool { return e.Sent(t, "alice@example.org") == 1 }, 30*time.Second, 50*time.Millisecond)
	})
	t.Run("events recorded and readable: confirmed", func(t *testing.T) {
		t.Parallel()
		e := newRealEnv(t)
		e.Update(t, map[string]any{"adminEventsEnabled": true})
		// A proxy with a 1 s read timeout in front of a relay that takes 4 s:
		// the proxy answers 504, Keycloak goes on and sends.
		slow(e, 4*time.Second)
		e.proxy.GiveUpAfter(keycloaktest.EndpointExecuteActions, time.Second)
		p := e.provider(t, func(c *keycloak.Config) {
			c.ClientID, c.ClientSecret = "resetq-audited", realidp.E2EAuditedClientSecret
		})
		err := p.Reset(context.Background(), idp.Request{User: idp.UserRef{Email: "alice@example.org"}})
		require.NoError(t, err, "Keycloak's admin event confirms the mail")
		require.Equal(t, 1, e.Sent(t, "alice@example.org"))
	})
	t.Run("events recorded, nothing sent: safe to send again", func(t *testing.T) {
		t.Parallel()
		e := newRealEnv(t)
		e.Update(t, map[string]any{"adminEventsEnabled": true})
		e.proxy.Inject(keycloaktest.Fault{Endpoint: keycloaktest.EndpointExecuteActions, Times: 1, Status: 504})
		p := e.provider(t, short, func(c *keycloak.Config) {
			c.ClientID, c.ClientSecret = "resetq-audited", realidp.E2EAuditedClientSecret
		})
		err := p.Reset(context.Background(), idp.Request{User: idp.UserRef{Email: "alice@example.org"}})
		require.Equal(t, idp.Transient, idp.AsError(err).Kind, "%v", err)
		require.Zero(t, e.Sent(t, "alice@example.org"))
	})
}
