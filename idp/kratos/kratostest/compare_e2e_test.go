//go:build e2e

package kratostest_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/realidp"
)

// TestTheRealServerBehaves puts the emulator's questions to the real
// Kratos: the two must answer alike.
func TestTheRealServerBehaves(t *testing.T) {
	t.Parallel()
	k, m := realidp.NewTestKratos(t, realidp.KratosConfig{Method: "code", LinkEnabled: true})
	behaves(t, kratos{
		public: k.PublicURL(), admin: k.AdminURL(),
		addIdentity: func(t *testing.T, email string) string {
			id, err := k.CreateIdentity(t.Context(), email)
			require.NoError(t, err)
			return id.ID
		},
		mails: func(t *testing.T, email string) []string {
			msgs, err := m.To(t.Context(), email)
			require.NoError(t, err)
			out := make([]string, len(msgs))
			for i, msg := range msgs { // newest first
				text, _, err := m.Body(t.Context(), msg.ID)
				require.NoError(t, err)
				out[len(msgs)-1-i] = text
			}
			return out
		},
	})
}
