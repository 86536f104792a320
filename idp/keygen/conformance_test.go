package keygen_test

import (
	"slices"
	"testing"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/idptest"
	"github.com/resetq/resetq/idp/keygen"
	"github.com/resetq/resetq/idp/keygen/keygentest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	idptest.Run(t, func(t *testing.T) *idptest.Env {
		s := keygentest.NewServer()
		t.Cleanup(s.Close)
		a := s.AddAccount(keygentest.Account{Slug: "acme"})
		adminToken := s.AddAdmin(a, "admin@acme.example", "admin-password")
		s.AddUser(a, keygentest.User{Email: "alice@example.com", Password: "alice-password"})
		// A minted token, so that expiry can be survived; verify_user, so
		// that an unknown user is known to be unknown.
		p := newProvider(t, s.URL(), func(c *configT) {
			c.Token, c.Email, c.Password, c.VerifyUser = "", "admin@acme.example", "admin-password", true
		})
		sent := func() int {
			n := 0
			for _, r := range s.Resets() {
				if r.Known && r.Email == "alice@example.com" {
					n++
				}
			}
			return n
		}
		return &idptest.Env{
			Provider:      p,
			Accepts:       keygen.Accepts,
			Known:         idp.UserRef{Email: "alice@example.com"},
			Unknown:       idp.UserRef{Email: "nobody@example.com"},
			Sent:          sent,
			Faults:        s,
			ResetEndpoint: keygentest.EndpointPasswords,
			RejectCredentials: func() {
				s.SetPassword(a, "admin@acme.example", "changed-password")
				s.ExpireAllTokens()
			},
			ExpireTokens:  s.ExpireAllTokens,
			TokenRequests: s.TokenMints,
			Secrets:       func() []string { return append(s.Tokens(a), "admin-password", "changed-password") },
			// The tokens minted for the provider: all but the admin's own.
			Held: func() []string {
				return append(slices.DeleteFunc(s.Tokens(a), func(t string) bool { return t == adminToken }), "admin-password")
			},
		}
	})
}
