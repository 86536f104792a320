package checks_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/checks"
	"github.com/resetq/resetq/internal/redistest"
)

func TestTheLastCheckOfEachProviderIsKept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	s := checks.New(rdb)

	got, err := s.Last(ctx, "corp")
	require.NoError(t, err)
	require.Nil(t, got, "never checked")

	at := time.Date(2026, 11, 3, 9, 30, 0, 0, time.UTC)
	ok := checks.Check{Provider: "corp", At: at, By: "ops", OK: true,
		Lines: []string{"token: client_credentials grant", "role: manage-users"}, Warnings: []string{"events are off"}}
	require.NoError(t, s.Save(ctx, ok))
	got, err = s.Last(ctx, "corp")
	require.NoError(t, err)
	require.Equal(t, &ok, got)

	failed := checks.Check{Provider: "corp", At: at.Add(time.Minute), By: "cli:alice@laptop", Reason: "credentials_rejected",
		Problem: "token: HTTP 401 unauthorized_client", Fix: "check auth.client_secret", Lines: []string{}}
	require.NoError(t, s.Save(ctx, failed))
	got, err = s.Last(ctx, "corp")
	require.NoError(t, err)
	require.False(t, got.OK)
	require.Equal(t, "cli:alice@laptop", got.By)
	require.Equal(t, "credentials_rejected", got.Reason)
	require.Equal(t, "check auth.client_secret", got.Fix)
	require.Empty(t, got.Lines)
	require.True(t, at.Add(time.Minute).Equal(got.At))

	other, err := s.Last(ctx, "licensing")
	require.NoError(t, err)
	require.Nil(t, other, "each provider has its own")

	ttl, err := rdb.TTL(ctx, checks.KeyPrefix+"corp").Result()
	require.NoError(t, err)
	require.Greater(t, ttl, checks.TTL-time.Minute, "kept for TTL after the last check")
	require.LessOrEqual(t, ttl, checks.TTL)

	require.Error(t, s.Save(ctx, checks.Check{OK: true}), "a check names its provider")
}

func TestACorruptRecordIsAnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	require.NoError(t, rdb.Set(ctx, checks.KeyPrefix+"corp", "{not json", 0).Err())
	_, err := checks.New(rdb).Last(ctx, "corp")
	require.ErrorContains(t, err, "the last check of corp is corrupt")
}
