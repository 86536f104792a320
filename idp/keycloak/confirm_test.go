package keycloak_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
)

// A reset whose answer is lost: Keycloak's admin events settle it where
// they are recorded and readable.
func TestALostAnswerIsSettledByKeycloaksAdminEvents(t *testing.T) {
	t.Parallel()
	type setup struct {
		name   string
		roles  []string
		events bool
		// sent: Keycloak carried the reset out (its answer was held); else a
		// proxy answered 504 and Keycloak never saw it.
		sent bool
		kind idp.Kind
		msg  string
	}
	for _, tt := range []setup{
		{"events recorded and readable, mail sent", []string{keycloaktest.RoleManageUsers, keycloaktest.RoleViewEvents}, true, true, -1, ""},
		{"events recorded and readable, nothing sent", []string{keycloaktest.RoleManageUsers, keycloaktest.RoleViewEvents}, true, false,
			idp.Transient, "admin events show no mail sent"},
		{"events not recorded", []string{keycloaktest.RoleManageUsers, keycloaktest.RoleViewEvents}, false, true,
			idp.Unconfirmed, "does not record admin events"},
		{"events not readable", []string{keycloaktest.RoleManageUsers}, true, true,
			idp.Unconfirmed, "view-events role"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := keycloaktest.NewServer()
			t.Cleanup(s.Close)
			s.AddServiceAccount("corp", "resetq", "s3cr3t-client", tt.roles...)
			id := s.AddUser("corp", keycloaktest.User{Username: "alice", Email: "alice@example.com", Enabled: true})
			s.SetAdminEvents("corp", tt.events)
			if tt.sent {
				s.SlowAnswers(keycloaktest.EndpointExecuteActions, 2*time.Second)
			} else {
				s.Inject(keycloaktest.Fault{Endpoint: keycloaktest.EndpointExecuteActions, Times: 1, Status: 504})
			}
			p := newProvider(t, s.URL(), func(c *keycloak.Config) { c.ResetTimeout = 500 * time.Millisecond })
			start := time.Now()
			err := p.Reset(context.Background(), idp.Request{User: idp.UserRef{Email: "alice@example.com"}})
			if tt.kind < 0 {
				require.NoError(t, err, "confirmed: Keycloak recorded the mail")
				require.Equal(t, 1, s.ResetCount(id))
				return
			}
			require.Error(t, err)
			require.Equal(t, tt.kind, idp.AsError(err).Kind, "%v", err)
			require.Contains(t, err.Error(), tt.msg)
			if tt.kind == idp.Transient {
				require.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond,
					"nothing is called unsent before Keycloak's worst case has passed")
				require.Zero(t, s.ResetCount(id))
			}
		})
	}
}

func TestOnly204IsASentMail(t *testing.T) {
	t.Parallel()
	s := keycloaktest.NewServer()
	t.Cleanup(s.Close)
	s.AddServiceAccount("corp", "resetq", "s3cr3t-client")
	s.AddUser("corp", keycloaktest.User{Username: "alice", Email: "alice@example.com", Enabled: true})
	s.Inject(keycloaktest.Fault{Endpoint: keycloaktest.EndpointExecuteActions, Times: 1, Status: 200,
		Body: `<!doctype html><title>Sign in</title>`})
	p := newProvider(t, s.URL())
	err := p.Reset(context.Background(), idp.Request{User: idp.UserRef{Email: "alice@example.com"}})
	require.Error(t, err)
	e := idp.AsError(err)
	require.Equal(t, idp.Configuration, e.Kind)
	require.Contains(t, e.Hint, "answers 204")
	require.Zero(t, s.TotalResets())
}
