package worker_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/tasks"
)

// inHand starts len(emails) resets against an IdP that holds every call,
// and waits until the worker has taken what it takes: with concurrency 1,
// one reset at the IdP and two more tasks in hand (Asynq's bookkeeping
// margin). It returns every task ID and those in hand.
func inHand(b *bundle, emails []string) (ids, active []string) {
	b.t.Helper()
	ids = b.enqueueAll(emails)
	eventually(b.t, func() bool { return b.idp.busy() == 1 && b.queue().Active == 3 }, "three tasks in hand")
	infos, err := b.insp.ListActiveTasks(tasks.QueueName(provider))
	require.NoError(b.t, err)
	for _, info := range infos {
		active = append(active, info.ID)
	}
	return ids, active
}

func TestShutdownLetsTheTasksInHandFinishAndLeavesTheRestQueued(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *options) { o.provider.Concurrency = 1 })
	release := make(chan struct{})
	b.idp.setDefault(answer{block: release})
	ids, active := inHand(b, users(6))

	stopped := make(chan struct{})
	go func() { defer close(stopped); b.worker().stop() }()
	close(release)
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not stop")
	}
	for _, id := range ids {
		if slices.Contains(active, id) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			r, err := b.client.Wait(ctx, id)
			cancel()
			require.NoError(t, err, "%s was in hand: it finished during the shutdown", id)
			require.Equal(t, tasks.Succeeded, r.Outcome)
			continue
		}
		if s := b.status(id); s.State != "done" {
			require.Equal(t, asynq.TaskStatePending.String(), s.State, "%s was never taken", id)
		}
	}
	require.Zero(t, b.resets(tasks.Failed, tasks.ReasonRetriesExhausted))
}

func TestShutdownTimeoutPutsTheTasksInHandBackInTheQueue(t *testing.T) {
	t.Parallel()
	for _, retries := range []int{10, 0} {
		name := map[int]string{10: "retries left", 0: "last try"}[retries]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(o *options) {
				o.provider.Concurrency = 1
				o.cfg.ShutdownTimeout = 100 * time.Millisecond
				o.producer.MaxRetries = retries
			})
			b.idp.setDefault(answer{block: make(chan struct{})}) // never answers; honours its context
			emails := users(6)
			ids, _ := inHand(b, emails)

			start := time.Now()
			b.worker().stop()
			require.Less(t, time.Since(start), 5*time.Second, "the shutdown timeout bounds the stop")
			// The cut calls return at once; let them settle before looking.
			eventually(t, func() bool { return b.idp.busy() == 0 }, "the cut calls returned")
			for _, id := range ids {
				s := b.status(id)
				require.Equal(t, asynq.TaskStatePending.String(), s.State, "%s is back in the queue: %+v", id, s.Result)
				require.Zero(t, s.Retried, "a shutdown is not a failed attempt")
			}
			require.Zero(t, b.resets(tasks.Failed, tasks.ReasonRetriesExhausted))

			b.idp.setDefault(answer{})
			b.startWorker()
			for _, id := range ids {
				r := b.wait(id)
				require.Equal(t, tasks.Succeeded, r.Outcome, r.Error)
			}
			for _, e := range emails {
				require.Equal(t, 1, b.idp.accepted(e), "%s got one email", e)
			}
			b.settled(ids...)
			for _, id := range ids {
				require.Len(t, b.hooks.forTask(id), 1, "one event for %s: %v", id, b.hooks.forTask(id))
			}
		})
	}
}
