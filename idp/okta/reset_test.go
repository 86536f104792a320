package okta_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/okta"
	"github.com/resetq/resetq/idp/okta/oktatest"
)

// Okta's search finds deactivated users too: someone who left and came back
// has a DEPROVISIONED account beside the active one, and is reset, not
// skipped as ambiguous; someone who left and did not is skipped disabled.
func TestARehiredUserIsReset(t *testing.T) {
	t.Parallel()
	s := oktatest.NewServer()
	t.Cleanup(s.Close)
	s.AddAPIToken(apiToken)
	old := s.AddUser("carol@example.com")
	s.Set(old, func(u *oktatest.User) { u.Status, u.Login = "DEPROVISIONED", "carol.old@example.com" })
	s.AddUser("carol@example.com")
	gone := s.AddUser("dan@example.com")
	s.Set(gone, func(u *oktatest.User) { u.Status = "DEPROVISIONED" })
	p, err := okta.New(okta.Config{OrgURL: s.URL(), APIToken: apiToken})
	require.NoError(t, err)
	require.NoError(t, p.Reset(context.Background(), idp.Request{User: idp.UserRef{Email: "carol@example.com"}}))
	require.Equal(t, 1, s.SentTo("carol@example.com"))
	err = p.Reset(context.Background(), idp.Request{User: idp.UserRef{Email: "dan@example.com"}})
	require.Equal(t, idp.UserDisabled, idp.AsError(err).Kind, "%v", err)
}
