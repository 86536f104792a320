package dupwindow_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/dupwindow"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/tasks"
)

func TestTheFirstTaskClaimsTheUserAndAnotherIsToldHowLongAgo(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	w := dupwindow.New(rdb, "corp", time.Hour)
	alice := tasks.User{Email: "alice@example.org"}

	ok, _, err := w.Claim(ctx, alice, "t1")
	require.NoError(t, err)
	require.True(t, ok)
	ok, _, err = w.Claim(ctx, alice, "t1")
	require.NoError(t, err)
	require.True(t, ok, "the same task coming back keeps its claim")

	ok, since, err := w.Claim(ctx, tasks.User{Email: "ALICE@example.org"}, "t2")
	require.NoError(t, err)
	require.False(t, ok, "the same user, however the address is cased")
	require.GreaterOrEqual(t, since, time.Duration(0))
	require.Less(t, since, time.Minute)

	ok, _, err = dupwindow.New(rdb, "other", time.Hour).Claim(ctx, alice, "t3")
	require.NoError(t, err)
	require.True(t, ok, "each provider has its own window")

	keys, err := rdb.Keys(ctx, "resetq:recent:*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		require.NotContains(t, k, "alice", "keys do not name the user")
	}
}

func TestOnlyTheHolderReleasesItsClaim(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	w := dupwindow.New(rdb, "corp", time.Hour)
	bob := tasks.User{Username: "bob"}
	ok, _, err := w.Claim(ctx, bob, "t1")
	require.NoError(t, err)
	require.True(t, ok)

	require.NoError(t, w.Release(ctx, bob, "t2"))
	ok, _, err = w.Claim(ctx, bob, "t3")
	require.NoError(t, err)
	require.False(t, ok, "another task's release leaves the claim")

	require.NoError(t, w.Release(ctx, bob, "t1"))
	ok, _, err = w.Claim(ctx, bob, "t3")
	require.NoError(t, err)
	require.True(t, ok, "released by its holder, the user can be claimed again")
}

func TestAClaimLastsTheWindow(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	w := dupwindow.New(rdb, "corp", 100*time.Millisecond)
	u := tasks.User{ID: "42"}
	ok, _, err := w.Claim(ctx, u, "t1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Eventually(t, func() bool {
		ok, _, err := w.Claim(ctx, u, "t2")
		require.NoError(t, err)
		return ok
	}, 5*time.Second, 10*time.Millisecond, "another task claims the user once the window is over")
}

func TestANilWindowIsOff(t *testing.T) {
	t.Parallel()
	var w *dupwindow.Window = dupwindow.New(nil, "corp", 0)
	require.Nil(t, w)
	ok, _, err := w.Claim(context.Background(), tasks.User{Email: "a@example.org"}, "t1")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, w.Release(context.Background(), tasks.User{Email: "a@example.org"}, "t1"))
	require.Zero(t, w.Length())
}
