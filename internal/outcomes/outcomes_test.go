package outcomes_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/outcomes"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/tasks"
)

func TestOutcomesAreKeptForTheirRetention(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	s := outcomes.New(rdb, 72*time.Hour)
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
	ttl, err := rdb.TTL(ctx, outcomes.Key(id)).Result()
	require.NoError(t, err)
	require.InDelta(t, (72 * time.Hour).Seconds(), ttl.Seconds(), 5)

	require.NoError(t, rdb.Set(ctx, outcomes.Key("r-bad"), "{not json", 0).Err())
	_, err = s.Get(ctx, "r-bad")
	require.ErrorContains(t, err, "corrupt")
}

func TestTheRequestIsClaimedOnceAndKeptAsLongAsTheOutcome(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	s := outcomes.New(rdb, 72*time.Hour)
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
	ttl, err := rdb.TTL(ctx, outcomes.RequestKey(id)).Result()
	require.NoError(t, err)
	require.InDelta(t, (30 * 24 * time.Hour).Seconds(), ttl.Seconds(), 5)

	require.NoError(t, s.Put(ctx, tasks.Result{TaskID: id, Provider: "corp", Outcome: tasks.Succeeded, Attempts: 1, FinishedAt: time.Now()}))
	ttl, err = rdb.TTL(ctx, outcomes.RequestKey(id)).Result()
	require.NoError(t, err)
	require.InDelta(t, (72 * time.Hour).Seconds(), ttl.Seconds(), 5, "as long as the outcome")

	require.NoError(t, s.ReplaceRequest(ctx, id, "fp-real"))
	prev, err := s.ClaimRequest(ctx, id, "fp-other", time.Hour)
	require.NoError(t, err)
	require.Equal(t, "fp-real", prev)
	ttl, err = rdb.TTL(ctx, outcomes.RequestKey(id)).Result()
	require.NoError(t, err)
	require.InDelta(t, (72 * time.Hour).Seconds(), ttl.Seconds(), 5, "replacing keeps the expiry")

	require.NoError(t, s.ReplaceRequest(ctx, "r-none", "fp"))
	n, err := rdb.Exists(ctx, outcomes.RequestKey("r-none")).Result()
	require.NoError(t, err)
	require.Zero(t, n, "replace creates nothing")
}
