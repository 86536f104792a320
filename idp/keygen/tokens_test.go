package keygen_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/keygen/keygentest"
)

// TestMintedTokensExpireAndAreRevokedOnRelease: Keygen gives an admin's
// minted token no expiry, so the provider asks for one, and Release
// revokes it; after Release nothing new is minted.
// emulated starts an emulator with account acme and its admin, and returns
// the admin's token.
func emulated(t *testing.T) (*keygentest.Server, *keygentest.Account, string) {
	t.Helper()
	s := keygentest.NewServer()
	t.Cleanup(s.Close)
	a := s.AddAccount(keygentest.Account{Slug: "acme"})
	return s, a, s.AddAdmin(a, "admin@acme.example", "admin-password")
}

func TestMintedTokensExpireAndAreRevokedOnRelease(t *testing.T) {
	t.Parallel()
	s, a, admin := emulated(t)
	s.AddUser(a, keygentest.User{Email: "alice@example.com", Password: "alice-password"})
	p := newProvider(t, s.URL(), func(c *configT) {
		c.Token, c.Email, c.Password, c.VerifyUser = "", "admin@acme.example", "admin-password", true
		c.TokenExpiry = 20 * time.Minute
	})
	ctx := context.Background()
	_, err := p.Check(ctx)
	require.NoError(t, err)
	require.NoError(t, p.Reset(ctx, idp.Request{User: idp.UserRef{Email: "alice@example.com"}}))
	minted := func() []keygentest.Token {
		var out []keygentest.Token
		for _, tok := range s.LiveTokens(a) {
			if tok.Value != admin {
				out = append(out, tok)
			}
		}
		return out
	}
	live := minted()
	require.Len(t, live, 1, "one mint for the check and the reset")
	require.False(t, live[0].Expiry.IsZero(), "an explicit expiry")
	require.WithinDuration(t, time.Now().Add(20*time.Minute), live[0].Expiry, time.Minute)

	require.NoError(t, p.Release(ctx))
	require.Empty(t, minted(), "revoked")
	require.Equal(t, 1, s.TokenMints())
	_, err = p.Check(ctx)
	require.Error(t, err, "a revoked token is noticed by the check")
	require.Equal(t, 1, s.TokenMints(), "and nothing is minted after Release")
	require.NoError(t, p.Release(ctx), "twice is harmless")
}

// TestReleaseLeavesAStaticTokenAlone: the operator's token is theirs.
func TestReleaseLeavesAStaticTokenAlone(t *testing.T) {
	t.Parallel()
	s, a, admin := emulated(t)
	p := newProvider(t, s.URL(), func(c *configT) { c.Token = admin })
	_, err := p.Check(context.Background())
	require.NoError(t, err)
	require.NoError(t, p.Release(context.Background()))
	require.Len(t, s.LiveTokens(a), 1)
	require.Empty(t, s.RequestsTo(keygentest.EndpointToken))
}
