//go:build e2e

package kratos_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/idptest"
	"github.com/resetq/resetq/idp/internal/emulator"
	"github.com/resetq/resetq/idp/kratos"
	"github.com/resetq/resetq/idp/kratos/kratostest"
	"github.com/resetq/resetq/internal/realidp"
)

// The conformance suite against the real Kratos, through fault proxies in
// front of its public and admin ports: the same cases as against the
// emulator. (One proxy will not do: Kratos' admin port answers a
// self-service route with a redirect to the public one, which the client
// follows around the proxy.) What was mailed is read from
// the courier's queue, where Kratos puts a message within the request.
func TestConformanceAgainstTheRealKratos(t *testing.T) {
	t.Parallel()
	k, _ := realidp.NewTestKratos(t, realidp.KratosConfig{Method: "code", LinkEnabled: true})
	idptest.Run(t, func(t *testing.T) *idptest.Env {
		// Each case has addresses of its own on the shared server.
		tag := strings.ToLower(strings.NewReplacer(" ", "-", "/", "-").Replace(t.Name()[strings.LastIndex(t.Name(), "/")+1:]))
		known, unknown := "alice-"+tag+"@example.com", "nobody-"+tag+"@example.com"
		_, err := k.CreateIdentity(t.Context(), known)
		require.NoError(t, err)
		public, err := kratostest.NewProxy(k.PublicURL())
		require.NoError(t, err)
		t.Cleanup(public.Close)
		admin, err := kratostest.NewProxy(k.AdminURL())
		require.NoError(t, err)
		t.Cleanup(admin.Close)
		p, err := kratos.New(kratos.Config{PublicURL: public.URL(), AdminURL: admin.URL(), AdminToken: adminKey,
			VerifyUser: true, Timeout: 10 * time.Second})
		require.NoError(t, err)
		return &idptest.Env{
			Provider:      p,
			Accepts:       kratos.Accepts,
			Known:         idp.UserRef{Email: known},
			Unknown:       idp.UserRef{Email: unknown},
			Sent:          func() int { return queuedFor(t, k, known) },
			Faults:        public,
			ResetEndpoint: kratostest.EndpointSubmit,
			// A self-hosted admin API has no credentials of its own; the
			// gateway in front of it refuses the key, as Ory Network does.
			RejectCredentials: func() {
				for _, ep := range []emulator.Endpoint{kratostest.EndpointIdentities, kratostest.EndpointIdentity} {
					admin.Inject(emulator.Fault{Endpoint: ep, Status: http.StatusUnauthorized,
						Body: `{"error":{"code":401,"status":"Unauthorized","message":"The request could not be authorized"}}`})
				}
			},
			HideUnknown: func() {}, // Kratos always answers alike
			Secrets:     func() []string { return []string{adminKey} },
			Held:        func() []string { return []string{adminKey} },
		}
	})
}

// queuedFor counts the courier's messages to addr.
func queuedFor(t *testing.T, k *realidp.Kratos, addr string) int {
	msgs, err := k.CourierMessages(context.Background())
	require.NoError(t, err)
	n := 0
	for _, m := range msgs {
		if strings.EqualFold(m.Recipient, addr) {
			n++
		}
	}
	return n
}
