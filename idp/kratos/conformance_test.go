package kratos_test

import (
	"testing"
	"time"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/idptest"
	"github.com/resetq/resetq/idp/kratos"
	"github.com/resetq/resetq/idp/kratos/kratostest"
)

// The admin API key an Ory Network project would need; self-hosted admin
// APIs usually have none.
const adminKey = "ory_pat_c0nf0rmance5ecret0000000000000"

func TestConformance(t *testing.T) {
	t.Parallel()
	idptest.Run(t, func(t *testing.T) *idptest.Env {
		s := kratostest.NewServer()
		t.Cleanup(s.Close)
		s.AddIdentity("alice@example.com")
		s.SetAdminToken(adminKey)
		// verify_user, so that an unknown user is known to be unknown;
		// an admin key, so that one can be rejected.
		p, err := kratos.New(kratos.Config{PublicURL: s.URL(), AdminURL: s.URL(), AdminToken: adminKey,
			VerifyUser: true, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return &idptest.Env{
			Provider:          p,
			Accepts:           kratos.Accepts,
			Known:             idp.UserRef{Email: "alice@example.com"},
			Unknown:           idp.UserRef{Email: "nobody@example.com"},
			Sent:              func() int { return s.SentTo("alice@example.com") },
			Faults:            s,
			ResetEndpoint:     kratostest.EndpointSubmit,
			RejectCredentials: func() { s.SetAdminToken("ory_pat_r0tated") },
			HideUnknown:       func() {}, // Kratos always answers alike
			Secrets:           func() []string { return []string{adminKey, "ory_pat_r0tated"} },
			Held:              func() []string { return []string{adminKey} },
		}
	})
}
