package outcomes_test

import (
	"context"
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
	id := tasks.TaskID("corp", "k")
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
