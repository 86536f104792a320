package keycloak_test

import (
	"testing"
	"time"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/idptest"
	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	idptest.Run(t, func(t *testing.T) *idptest.Env {
		s := keycloaktest.NewServer()
		t.Cleanup(s.Close)
		s.AddServiceAccount("corp", "resetq", "s3cr3t-client")
		id := s.AddUser("corp", keycloaktest.User{Username: "alice", Email: "alice@example.com", Enabled: true})
		return &idptest.Env{
			Provider: newProvider(t, s.URL()),
			Accepts:  keycloak.Accepts,
			Known:    idp.UserRef{Email: "alice@example.com"},
			Unknown:  idp.UserRef{Email: "nobody@example.com"},
			Sent:     func() int { return s.ResetCount(id) },
			FailNext: func(n, status int, body string) { s.FailNext(keycloaktest.EndpointExecuteActions, n, status, body) },
			RateLimitNext: func(d time.Duration) {
				s.Inject(keycloaktest.Fault{Endpoint: keycloaktest.EndpointExecuteActions, Times: 1, Status: 429, RetryAfter: d})
			},
			RejectCredentials: func() {
				// The secret is rotated in Keycloak and resetq still has the old one.
				s.AddServiceAccount("corp", "resetq", "rotated-secret")
				s.ExpireAllTokens()
			},
			ExpireTokens:  s.ExpireAllTokens,
			TokenRequests: s.TokenRequests,
			SetLatency:    s.SetLatency,
			SlowReset:     func(d time.Duration) { s.SlowAnswers(keycloaktest.EndpointExecuteActions, d) },
			Secrets:       func() []string { return append(s.IssuedTokens(), "s3cr3t-client", "rotated-secret") },
			Held:          func() []string { return append(s.IssuedTokens(), "s3cr3t-client") },
		}
	})
}
