package okta_test

import (
	"slices"
	"testing"
	"time"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/idptest"
	"github.com/resetq/resetq/idp/internal/emulator"
	"github.com/resetq/resetq/idp/okta"
	"github.com/resetq/resetq/idp/okta/oktatest"
)

const apiToken = "00conformance-api-token-0123456789abcdef"

// newEnv is the suite's Env for one configuration against a fresh
// emulator; creds sets the provider's credentials on it.
func newEnv(t *testing.T, method string, creds func(s *oktatest.Server, c *okta.Config) (reject func(), secrets func() []string)) *idptest.Env {
	s := oktatest.NewServer()
	t.Cleanup(s.Close)
	alice := s.AddUser("alice@example.com")
	before := s.Get(alice).Password
	cfg := okta.Config{OrgURL: s.URL(), Method: method, Timeout: 5 * time.Second}
	reject, secrets := creds(s, &cfg)
	p, err := okta.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &idptest.Env{
		Provider:          p,
		Accepts:           okta.Accepts,
		Known:             idp.UserRef{Email: "alice@example.com"},
		Unknown:           idp.UserRef{Email: "nobody@example.com"},
		Sent:              func() int { return s.SentTo("alice@example.com") },
		Faults:            s,
		ResetEndpoint:     map[string]emulator.Endpoint{okta.MethodReset: oktatest.EndpointReset, okta.MethodForgot: oktatest.EndpointForgot}[method],
		RateLimitNext:     func(d time.Duration) { s.Throttle(1, d) },
		RejectCredentials: reject,
		PasswordWorks:     func() bool { return s.Get(alice).Password == before },
		KeepsPassword:     method == okta.MethodForgot,
		Secrets:           secrets,
		Held:              secrets,
	}
}

func TestConformanceWithAnAPIToken(t *testing.T) {
	t.Parallel()
	idptest.Run(t, func(t *testing.T) *idptest.Env {
		env := newEnv(t, okta.MethodReset, func(s *oktatest.Server, c *okta.Config) (func(), func() []string) {
			s.AddAPIToken(apiToken)
			c.APIToken = apiToken
			return s.RevokeAPITokens, func() []string { return []string{apiToken} }
		})
		return env
	})
}

func TestConformanceAsAServiceApp(t *testing.T) {
	t.Parallel()
	idptest.Run(t, func(t *testing.T) *idptest.Env {
		var s *oktatest.Server
		env := newEnv(t, okta.MethodForgot, func(srv *oktatest.Server, c *okta.Config) (func(), func() []string) {
			s = srv
			key, kid := s.AddServiceApp("0oaconformance", okta.Scopes...)
			c.ClientID, c.PrivateKey, c.KeyID = "0oaconformance", key, kid
			return s.RemoveServiceApps, func() []string { return []string{string(key)} }
		})
		env.ExpireTokens, env.TokenRequests = s.ExpireTokens, s.TokensIssued
		key := env.Secrets()
		env.Secrets = func() []string { return append(slices.Clone(key), s.IssuedTokens()...) }
		env.Held = func() []string {
			if issued := s.IssuedTokens(); len(issued) > 0 {
				return append(slices.Clone(key), issued[len(issued)-1])
			}
			return key
		}
		return env
	})
}
