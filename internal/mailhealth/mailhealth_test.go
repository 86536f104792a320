package mailhealth

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/internal/testclock"
)

// setup returns a clock shared by trackers standing for worker processes.
func setup(t *testing.T) (*testclock.Clock, func() *Tracker, redis.UniversalClient) {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	c := testclock.New(time.Date(2026, 12, 1, 10, 0, 30, 0, time.UTC))
	return c, func() *Tracker {
		tr := New(rdb)
		tr.now = c.Now
		return tr
	}, rdb
}

// failed reports task's failure to tr and returns the signs.
func failed(t *testing.T, tr *Tracker, provider, task string) Signs {
	t.Helper()
	s, err := tr.Failed(context.Background(), provider, task)
	require.NoError(t, err)
	return s
}

func TestAStreakCountsDifferentTasksSinceTheLastDeliveredMail(t *testing.T) {
	t.Parallel()
	c, newTracker, _ := setup(t)
	ctx := context.Background()
	a, b := newTracker(), newTracker() // two worker processes
	require.NoError(t, a.Delivered(ctx, "corp"))
	for i, task := range []string{"t1", "t2", "t1", "t3"} {
		c.Add(100 * time.Millisecond)
		s := failed(t, b, "corp", task)
		require.Equal(t, []int{1, 2, 2, 3}[i], s.Streak, "after %s", task)
		require.False(t, s.DeliveredSince, "no mail delivered since %s first failed", task)
	}
	// Process a delivers a mail; its flush comes with b's next failure
	// report only through Redis, so a reports it first.
	c.Add(2 * time.Second)
	require.NoError(t, a.Delivered(ctx, "corp"))
	c.Add(100 * time.Millisecond)
	s := failed(t, b, "corp", "t4")
	require.Equal(t, 1, s.Streak, "the delivery ended the streak")

	// The streak of another provider is its own.
	s = failed(t, b, "other", "t1")
	require.Equal(t, 1, s.Streak)
}

func TestATasksFailuresAndWhetherMailWentOutSinceTheFirst(t *testing.T) {
	t.Parallel()
	c, newTracker, _ := setup(t)
	ctx := context.Background()
	tr := newTracker()
	fail := func() Signs {
		t.Helper()
		c.Add(time.Second)
		return failed(t, tr, "corp", "x")
	}
	require.NoError(t, tr.Delivered(ctx, "corp")) // before: no evidence about x
	s := fail()
	require.Equal(t, 1, s.Failures)
	require.False(t, s.DeliveredSince)
	s = fail()
	require.Equal(t, 2, s.Failures)
	require.False(t, s.DeliveredSince, "nothing delivered since x first failed: perhaps an outage")
	c.Add(time.Second)
	require.NoError(t, tr.Delivered(ctx, "corp"))
	s = fail()
	require.Equal(t, 3, s.Failures)
	require.True(t, s.DeliveredSince, "the relay took someone's mail after x first failed")
	require.Equal(t, 1, s.Streak)
	require.Equal(t, 2, s.Delivered)
	require.Equal(t, 3, s.Failed)

	require.NoError(t, tr.Forget(ctx, "corp", "x"))
	s = fail()
	require.Equal(t, 1, s.Failures, "a forgotten task starts again")
	require.False(t, s.DeliveredSince)
}

func TestDeliveriesAreCountedOnceWhateverTheFlushes(t *testing.T) {
	t.Parallel()
	c, newTracker, _ := setup(t)
	ctx := context.Background()
	a, b := newTracker(), newTracker()
	for range 25 { // 25 deliveries over 2.5 s in each process: flushed now and then
		require.NoError(t, a.Delivered(ctx, "corp"))
		require.NoError(t, b.Delivered(ctx, "corp"))
		c.Add(100 * time.Millisecond)
	}
	s := failed(t, a, "corp", "x") // flushes a's rest
	require.LessOrEqual(t, s.Delivered, 50)
	s = failed(t, b, "corp", "y") // and b's
	require.Equal(t, 50, s.Delivered)
	require.Equal(t, 2, s.Failed)
}

func TestOldCountsLeaveTheWindowAndClearForgetsTheStreak(t *testing.T) {
	t.Parallel()
	c, newTracker, rdb := setup(t)
	ctx := context.Background()
	tr := newTracker()
	require.NoError(t, tr.Delivered(ctx, "corp"))
	for _, task := range []string{"a", "b", "c"} {
		failed(t, tr, "corp", task)
	}
	c.Add(Window + bucket)
	s := failed(t, tr, "corp", "d")
	require.Equal(t, 0, s.Delivered, "the delivery left the window")
	require.Equal(t, 1, s.Failed)
	require.Equal(t, 1, s.Streak, "so did the old failures")

	require.NoError(t, tr.Clear(ctx, "corp"))
	s = failed(t, tr, "corp", "e")
	require.Equal(t, 1, s.Streak)
	ttl, err := rdb.PTTL(ctx, keys("corp")[1]).Result()
	require.NoError(t, err)
	require.Positive(t, ttl, "every key expires")
}
