package outcomes_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/outcomes"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/tasks"
)

// setup returns a store that keeps outcomes 72 h, on a Redis of its own.
func setup(t *testing.T) (*outcomes.Store, *redis.Client) {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	return outcomes.New(rdb, 72*time.Hour), rdb
}

// requireTTL requires key to expire in want, give or take 5 s.
func requireTTL(t *testing.T, rdb *redis.Client, key string, want time.Duration, msgAndArgs ...any) {
	t.Helper()
	ttl, err := rdb.TTL(context.Background(), key).Result()
	require.NoError(t, err)
	require.InDelta(t, want.Seconds(), ttl.Seconds(), 5, msgAndArgs...)
}

func TestOutcomesAreKeptForTheirRetention(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ctx := context.Background()
	id := tasks.RandomTaskID()
	got, err := s.Get(ctx, id)
	require.NoError(t, err)
	require.Nil(t, got, "no outcome yet")

	r := tasks.Result{TaskID: id, Provider: "corp", Outcome: tasks.Skipped, Reason: tasks.ReasonUserNotFound,
		Attempts: 1, FinishedAt: time.Now().UTC().Truncate(time.Millisecond)}
	require.NoError(t, s.Put(ctx, r))
	got, err = s.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, &r, got)
	requireTTL(t, rdb, outcomes.Key(id), 72*time.Hour)

	require.NoError(t, rdb.Set(ctx, outcomes.Key("r-bad"), "{not json", 0).Err())
	_, err = s.Get(ctx, "r-bad")
	require.ErrorContains(t, err, "corrupt")
}

func TestTheRequestIsClaimedOnceAndKeptAsLongAsTheOutcome(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ctx := context.Background()
	id := tasks.RandomTaskID()

	got := make([]string, 10)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			prev, err := s.ClaimRequest(ctx, id, fmt.Sprint("fp-", i), 30*24*time.Hour)
			require.NoError(t, err)
			got[i] = prev
		})
	}
	wg.Wait()
	winner := slices.Index(got, "")
	require.NotEqual(t, -1, winner)
	for i, prev := range got {
		if i != winner {
			require.Equal(t, fmt.Sprint("fp-", winner), prev, "exactly one claim records")
		}
	}
	requireTTL(t, rdb, outcomes.RequestKey(id), 30*24*time.Hour)

	require.NoError(t, s.Put(ctx, tasks.Result{TaskID: id, Provider: "corp", Outcome: tasks.Succeeded, Attempts: 1, FinishedAt: time.Now()}))
	requireTTL(t, rdb, outcomes.RequestKey(id), 72*time.Hour, "as long as the outcome")

	require.NoError(t, s.ReplaceRequest(ctx, id, "fp-real"))
	prev, err := s.ClaimRequest(ctx, id, "fp-other", time.Hour)
	require.NoError(t, err)
	require.Equal(t, "fp-real", prev)
	requireTTL(t, rdb, outcomes.RequestKey(id), 72*time.Hour, "replacing keeps the expiry")

	require.NoError(t, s.ReplaceRequest(ctx, "r-none", "fp"))
	n, err := rdb.Exists(ctx, outcomes.RequestKey("r-none")).Result()
	require.NoError(t, err)
	require.Zero(t, n, "replace creates nothing")
}
