package keycloak_test

import (
	"testing"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/idptest"
	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
)

// The suite runs against both path layouts: Keycloak at the root, and
// under /auth as WildFly-era builds and --http-relative-path=/auth serve it.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "/auth"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			t.Parallel()
			idptest.Run(t, func(t *testing.T) *idptest.Env {
				s := keycloaktest.NewServer(keycloaktest.WithPathPrefix(prefix))
				t.Cleanup(s.Close)
				s.AddServiceAccount("corp", "resetq", "s3cr3t-client")
				id := s.AddUser("corp", keycloaktest.User{Username: "alice", Email: "alice@example.com", Enabled: true})
				return &idptest.Env{
					Provider:      newProvider(t, s.URL()),
					Accepts:       keycloak.Accepts,
					Known:         idp.UserRef{Email: "alice@example.com"},
					Unknown:       idp.UserRef{Email: "nobody@example.com"},
					Sent:          func() int { return s.ResetCount(id) },
					Faults:        s,
					ResetEndpoint: keycloaktest.EndpointExecuteActions,
					RejectCredentials: func() {
						// The secret is rotated in Keycloak and resetq still has the old one.
						s.AddServiceAccount("corp", "resetq", "rotated-secret")
						s.ExpireAllTokens()
					},
					ExpireTokens:  s.ExpireAllTokens,
					TokenRequests: s.TokenRequests,
					Secrets:       func() []string { return append(s.IssuedTokens(), "s3cr3t-client", "rotated-secret") },
					Held:          func() []string { return append(s.IssuedTokens(), "s3cr3t-client") },
				}
			})
		})
	}
}
