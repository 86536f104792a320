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

// claim claims u for task in w and requires the answer to be want.
func claim(t *testing.T, w *dupwindow.Window, u tasks.User, task string, want bool, msgAndArgs ...any) {
	t.Helper()
	ok, _, _, err := w.Claim(context.Background(), u, task)
	require.NoError(t, err)
	require.Equal(t, want, ok, msgAndArgs...)
}

func TestTheFirstTaskClaimsTheUserAndAnotherIsToldHowLongAgo(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	w := dupwindow.New(rdb, "corp", time.Hour)
	alice := tasks.User{Email: "alice@example.org"}
	claim(t, w, alice, "t1", true)
	claim(t, w, alice, "t1", true, "the same task coming back keeps its claim")

	ctx := context.Background()
	ok, holder, since, err := w.Claim(ctx, tasks.User{Email: "ALICE@example.org"}, "t2")
	require.NoError(t, err)
	require.False(t, ok, "the same user, however the address is cased")
	require.Equal(t, "t1", holder, "the earlier task is named")
	require.GreaterOrEqual(t, since, time.Duration(0))
	require.Less(t, since, time.Minute)

	claim(t, dupwindow.New(rdb, "other", time.Hour), alice, "t3", true, "each provider has its own window")

	keys, err := rdb.Keys(ctx, "resetq:recent:*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		require.NotContains(t, k, "alice", "keys do not name the user")
	}
}

func TestOnlyTheHolderReleasesItsClaim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := dupwindow.New(redistest.Start(t).Client(t), "corp", time.Hour)
	bob := tasks.User{Username: "bob"}
	claim(t, w, bob, "t1", true)

	require.NoError(t, w.Release(ctx, bob, "t2"))
	claim(t, w, bob, "t3", false, "another task's release leaves the claim")

	require.NoError(t, w.Release(ctx, bob, "t1"))
	claim(t, w, bob, "t3", true, "released by its holder, the user can be claimed again")
}

func TestAClaimLastsTheWindow(t *testing.T) {
	t.Parallel()
	w := dupwindow.New(redistest.Start(t).Client(t), "corp", 100*time.Millisecond)
	u := tasks.User{ID: "42"}
	claim(t, w, u, "t1", true)
	require.Eventually(t, func() bool {
		ok, _, _, err := w.Claim(context.Background(), u, "t2")
		require.NoError(t, err)
		return ok
	}, 5*time.Second, 10*time.Millisecond, "another task claims the user once the window is over")
}

func TestANilWindowIsOff(t *testing.T) {
	t.Parallel()
	var w *dupwindow.Window = dupwindow.New(nil, "corp", 0)
	require.Nil(t, w)
	claim(t, w, tasks.User{Email: "a@example.org"}, "t1", true)
	require.NoError(t, w.Release(context.Background(), tasks.User{Email: "a@example.org"}, "t1"))
	require.Zero(t, w.Length())
}
