package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/ratelimit"
	"github.com/resetq/resetq/internal/redistest"
)

func TestPaceHasTheSmallestBurstThatMakesUpALateSlot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n     int
		per   time.Duration
		burst int
	}{{200, time.Second, 3}, {20, time.Second, 2}, {1000, time.Second, 11}, {5, time.Hour, 2}, {600, time.Minute, 2}} {
		l := ratelimit.Pace(tc.n, tc.per)
		require.Equal(t, redis_rate.Limit{Rate: tc.n, Period: tc.per, Burst: tc.burst}, l, "Pace(%d, %s)", tc.n, tc.per)
	}
}

func TestAShortWaitIsSleptAndALongOneHandedBack(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	l := ratelimit.New(rdb, time.Second)
	perTenth := ratelimit.Rule{Key: "k:short", What: "short", Limit: redis_rate.Limit{Rate: 1, Period: 100 * time.Millisecond, Burst: 1}}

	waited, err := l.Wait(ctx, perTenth)
	require.NoError(t, err)
	require.Zero(t, waited, "the first slot is free")
	start := time.Now()
	waited, err = l.Wait(ctx, perTenth)
	require.NoError(t, err)
	require.Positive(t, waited, "the second waits for its slot")
	require.GreaterOrEqual(t, time.Since(start), waited)

	hourly := ratelimit.Provider("corp", ratelimit.Pace(1, time.Hour))
	for range hourly.Limit.Burst {
		_, err = l.Wait(ctx, hourly)
		require.NoError(t, err)
	}
	for range 2 {
		_, err = l.Wait(ctx, hourly)
		var we *ratelimit.WaitError
		require.ErrorAs(t, err, &we, "a wait longer than the hold is not slept")
		require.Greater(t, we.RetryAfter, 30*time.Minute)
		require.Contains(t, err.Error(), "provider corp rate limit")
	}
}

func TestEveryRuleIsTakenInOrderAndTheOneThatWaitsIsNamed(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	l := ratelimit.New(rdb, time.Second)
	campaign := ratelimit.Campaign("c1", 1, time.Hour)
	provider := ratelimit.Provider("corp", ratelimit.Pace(100, time.Second))
	for range campaign.Limit.Burst {
		_, err := l.Wait(context.Background(), campaign, provider)
		require.NoError(t, err)
	}
	_, err := l.Wait(context.Background(), campaign, provider)
	var we *ratelimit.WaitError
	require.ErrorAs(t, err, &we)
	require.Equal(t, "campaign c1", we.Rule.What)
}

func TestAWaitEndsWithItsContext(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	l := ratelimit.New(rdb, time.Hour)
	slow := ratelimit.Rule{Key: "k:slow", What: "slow", Limit: redis_rate.Limit{Rate: 1, Period: time.Hour, Burst: 1}}
	_, err := l.Wait(context.Background(), slow)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = l.Wait(ctx, slow)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestTheWaitlistPutsBackArchivedTasksWhenTheirTimeComes(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	c := asynq.NewClientFromRedisClient(rdb)
	const q = "resetq:corp"
	for _, id := range []string{"due", "later", "gone"} {
		_, err := c.Enqueue(asynq.NewTask("reset:password", nil), asynq.Queue(q), asynq.TaskID(id))
		require.NoError(t, err)
		require.NoError(t, insp.ArchiveTask(q, id))
	}
	require.NoError(t, insp.DeleteTask(q, "gone"))
	w := ratelimit.NewWaitlist(rdb)
	now := time.Now()
	require.NoError(t, w.Add(ctx, q, "due", now.Add(-time.Millisecond)))
	require.NoError(t, w.Add(ctx, q, "gone", now.Add(-time.Millisecond)))
	require.NoError(t, w.Add(ctx, q, "later", now.Add(time.Hour)))

	n, err := w.Release(ctx, now)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	state := func(id string) asynq.TaskState {
		info, err := insp.GetTaskInfo(q, id)
		require.NoError(t, err)
		return info.State
	}
	require.Equal(t, asynq.TaskStatePending, state("due"))
	require.Equal(t, asynq.TaskStateArchived, state("later"), "not before its time")

	n, err = w.Release(ctx, now.Add(2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n, "the due one and the gone one are forgotten, the later one put back")
	require.Equal(t, asynq.TaskStatePending, state("later"))
	n, err = w.Release(ctx, now.Add(3*time.Hour))
	require.NoError(t, err)
	require.Zero(t, n, "nothing is listed any more")
}
