package worker_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/worker"
)

// The limit is a safety bound: no window of one period ever holds more than
// the rate and its burst. How fast the resets go is not asserted.
func TestTheProvidersRateLimitIsNeverExceeded(t *testing.T) {
	t.Parallel()
	const n, per = 4, 400 * time.Millisecond
	b := setup(t, func(o *options) {
		o.provider.RateCount, o.provider.RatePeriod = n, per
		o.provider.Concurrency = 8
	})
	emails := users(12)
	ids := b.enqueueAll(emails)
	for _, id := range ids {
		r := b.wait(id)
		require.Equal(t, tasks.Succeeded, r.Outcome, r.Error)
		require.Equal(t, 1, r.Attempts, "a short wait holds the task")
	}
	times := b.idp.sentTimes()
	require.Len(t, times, len(emails))
	bound := n + worker.Pace(n, per).Burst
	for i := range times {
		in := 0
		for _, u := range times {
			if !u.Before(times[i]) && u.Sub(times[i]) < per {
				in++
			}
		}
		require.LessOrEqual(t, in, bound, "resets in the %s after %s", per, times[i].Format("15:04:05.000"))
	}
	require.Positive(t, b.rateWaits(), "the waits are observed")
}

// A task that would wait for the rate limit longer than MaxHold goes back
// to its queue instead of holding a worker, and the wait does not use up a
// retry. Concurrency 1: if a waiting task held its worker, the others could
// not reach the queue's retry set.
func TestALongRateLimitWaitGoesBackToTheQueueWithoutHoldingAWorker(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *options) {
		o.provider.RateCount, o.provider.RatePeriod = 1, time.Hour
		o.provider.Concurrency = 1
	})
	burst := worker.Pace(1, time.Hour).Burst
	emails := users(burst + 3)
	ids := b.enqueueAll(emails)
	eventually(t, func() bool {
		q := b.queue()
		return q.Completed+q.Pending+q.Active == 0 && q.Retry == 3
	}, "the burst went out and the rest waits in the retry set")
	waiting := 0
	for _, id := range ids {
		info := b.task(id)
		if info == nil {
			require.Equal(t, tasks.Succeeded, b.wait(id).Outcome)
			continue
		}
		waiting++
		require.Equal(t, asynq.TaskStateRetry, info.State)
		require.Zero(t, info.Retried, "a rate-limit wait is not a failure")
		require.Contains(t, info.LastErr, "provider corp rate limit")
		require.Greater(t, time.Until(info.NextProcessAt), 30*time.Minute, "back when the limit allows")
	}
	require.Equal(t, 3, waiting)
	require.Len(t, b.idp.sentTimes(), burst, "nothing beyond the burst reached the IdP")
	require.Zero(t, b.resets(tasks.Failed, tasks.ReasonRetriesExhausted))
}

// On a task's last try Asynq archives it whatever the error. A wait for a
// rate limit there, resetq's or the IdP's, is not the end of the task: it
// waits archived and goes back to its queue when the wait is over.
func TestALongRateLimitWaitOnTheLastTryDoesNotEndTheTask(t *testing.T) {
	t.Parallel()
	t.Run("the provider's rate limit", func(t *testing.T) {
		t.Parallel()
		const per = 2 * time.Second
		b := setup(t, func(o *options) {
			o.provider.RateCount, o.provider.RatePeriod = 1, per
			o.provider.Concurrency = 1
			o.producer.MaxRetries = 0
		})
		burst := worker.Pace(1, per).Burst
		ids := b.enqueueAll(users(burst + 1))
		eventually(t, func() bool {
			q := b.queue()
			return q.Archived == 1
		}, "the task beyond the burst waits archived")
		for _, id := range ids {
			r := b.wait(id)
			require.Equal(t, tasks.Succeeded, r.Outcome, r.Error)
			require.Equal(t, 1, r.Attempts, "the wait used no try")
		}
		require.Zero(t, b.queue().Archived)
		require.Zero(t, b.resets(tasks.Failed, tasks.ReasonRetriesExhausted))
	})
	t.Run("the IdP's Retry-After", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(o *options) { o.producer.MaxRetries = 0 })
		const email = "alice@example.org"
		b.idp.script(email, rateLimited(1500*time.Millisecond))
		id := b.enqueue(email)
		eventually(t, func() bool { info := b.task(id); return info != nil && info.State == asynq.TaskStateArchived },
			"the task waits archived")
		require.Contains(t, b.task(id).LastErr, "rate_limited")
		r := b.wait(id)
		require.Equal(t, tasks.Succeeded, r.Outcome, r.Error)
		calls := b.idp.callsFor(email)
		require.Len(t, calls, 2)
		require.GreaterOrEqual(t, calls[1].start.Sub(calls[0].start), 1500*time.Millisecond, "Retry-After was honoured")
	})
}

// The IdP's own 429 with a short Retry-After is waited out within the
// attempt; a long one sends the task back to its queue, keeping its
// retries.
func TestAnIdPRateLimitIsHonoured(t *testing.T) {
	t.Parallel()
	t.Run("short Retry-After: waited within the attempt", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		const email = "alice@example.org"
		b.idp.script(email, rateLimited(150*time.Millisecond))
		r := b.wait(b.enqueue(email))
		require.Equal(t, tasks.Succeeded, r.Outcome, r.Error)
		require.Equal(t, 1, r.Attempts)
		calls := b.idp.callsFor(email)
		require.Len(t, calls, 2)
		require.GreaterOrEqual(t, calls[1].start.Sub(calls[0].start), 150*time.Millisecond, "Retry-After was honoured")
		require.Positive(t, b.rateWaits())
	})
	t.Run("long Retry-After: back to the queue, not a failure", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		const email = "alice@example.org"
		b.idp.script(email, rateLimited(time.Hour))
		id := b.enqueue(email)
		eventually(t, func() bool { info := b.task(id); return info != nil && info.State == asynq.TaskStateRetry }, "retry")
		info := b.task(id)
		require.Zero(t, info.Retried, "not counted against the retries")
		require.Greater(t, time.Until(info.NextProcessAt), 59*time.Minute, "back after the Retry-After")
		require.Contains(t, info.LastErr, "rate_limited")
		require.Len(t, b.idp.all(), 1, "not retried within the attempt")
	})
}
