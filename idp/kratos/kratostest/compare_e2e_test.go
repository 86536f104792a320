//go:build e2e

package kratostest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/realidp"
)

// TestTheRealServerBehaves puts the emulator's questions to the real
// Kratos: the two must answer alike.
func TestTheRealServerBehaves(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute) // a cold Kratos build takes about 15
	defer cancel()
	m, err := realidp.StartMailpit(ctx, realidp.MailpitConfig{})
	require.NoError(t, err)
	t.Cleanup(m.Stop)
	k, err := realidp.StartKratos(ctx, realidp.KratosConfig{Method: "code", LinkEnabled: true,
		SMTPURL: "smtp://" + m.SMTPAddr() + "/?disable_starttls=true"})
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the end of kratos's log:\n%s", k.LogTail(40))
		}
		k.Stop()
	})
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
