package worker_test

import (
	"context"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/webhook"
)

// waitHalt waits for the provider to halt and returns why it did.
func (b *bundle) waitHalt() *halt.State {
	b.t.Helper()
	var st *halt.State
	eventually(b.t, func() bool {
		var err error
		st, err = b.halts.Get(context.Background(), provider)
		require.NoError(b.t, err)
		return st != nil
	}, "the provider halts")
	return st
}

func TestAHaltingErrorPausesTheProviderAndResumeSendsEveryWaitingTaskOnce(t *testing.T) {
	t.Parallel()
	for _, kind := range []idp.Kind{idp.Credentials, idp.Permission, idp.Configuration} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.idp.setDefault(refuse(kind))
			emails := users(10)
			ids := b.enqueueAll(emails)

			st := b.waitHalt()
			require.Equal(t, kind.String(), st.Reason)
			require.Equal(t, refuse(kind).err.(*idp.Error).Hint, st.Hint, "the operator is told what to fix")
			require.Contains(t, st.Message, "the fake IdP says "+kind.String())
			require.True(t, b.queue().Paused, "the queue is paused")
			require.Equal(t, 1.0, testutil.ToFloat64(b.m.ProviderHalted.WithLabelValues(provider)))

			// The tasks in hand settle; every task waits, none ended.
			eventually(t, func() bool { return b.queue().Active == 0 }, "no task runs")
			for _, id := range ids {
				s := b.status(id)
				require.NotEqual(t, "done", s.State, "no outcome for %s", id)
				require.NotEqual(t, asynq.TaskStateArchived.String(), s.State, "%s is not archived", id)
				require.NotNil(t, s.Halt, "%s is reported waiting for the resume", id)
				require.Equal(t, kind.String(), s.Halt.Reason)
			}
			require.Zero(t, b.resets(tasks.Failed, tasks.ReasonRetriesExhausted))
			// Concurrency 4, and Asynq holds a few more tasks for its
			// bookkeeping: only tasks already in hand reached the IdP.
			require.LessOrEqual(t, len(b.idp.all()), 4+2, "only the tasks in hand tried: %v", b.idp.all())

			// The operator fixes the cause and resumes.
			b.idp.setDefault(answer{})
			res, err := b.halts.Resume(context.Background(), provider)
			require.NoError(t, err)
			require.NotNil(t, res.Was)
			require.Zero(t, res.Requeued, "nothing was archived: the tasks had retries left")
			for _, id := range ids {
				r := b.wait(id)
				require.Equal(t, tasks.Succeeded, r.Outcome, r.Error)
			}
			for _, e := range emails {
				require.Equal(t, 1, b.idp.accepted(e), "%s got one email", e)
			}
			eventually(t, func() bool { return testutil.ToFloat64(b.m.ProviderHalted.WithLabelValues(provider)) == 0 },
				"the halted gauge is cleared")
			eventually(t, func() bool { return len(b.hooks.received(webhook.ResetSucceeded)) == len(ids) }, "every success announced")
			halted := b.hooks.received(webhook.ProviderHalted)
			require.Len(t, halted, 1, "one provider.halted, not one per task")
			// provider.resumed is emitted by `resetq provider resume`, not
			// by the worker or halt.Registry.Resume.
			require.Empty(t, b.hooks.received(webhook.ProviderResumed))
		})
	}
}

func TestAHaltOnTheLastTryIsArchivedByAsynqAndPutBackByResume(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *options) { o.producer.MaxRetries = 0 })
	b.idp.setDefault(refuse(idp.Credentials))
	emails := users(6)
	ids := b.enqueueAll(emails)
	eventually(t, func() bool {
		q := b.queue()
		return q.Paused && q.Active == 0 && q.Archived > 0
	}, "the tasks in hand were archived by Asynq (no retries left)")
	for _, id := range ids {
		s := b.status(id)
		require.NotEqual(t, "done", s.State, "no outcome for %s", id)
		if s.State == asynq.TaskStateArchived.String() {
			require.Contains(t, s.LastError, halt.ErrorMarker, "archived by the halt, so resume finds it")
		}
	}
	require.Zero(t, b.resets(tasks.Failed, tasks.ReasonRetriesExhausted), "a halt is not a failure")

	b.idp.setDefault(answer{})
	res, err := b.halts.Resume(context.Background(), provider)
	require.NoError(t, err)
	require.Zero(t, b.queue().Archived, "every archived task was put back")
	require.Positive(t, res.Requeued)
	for _, id := range ids {
		require.Equal(t, tasks.Succeeded, b.wait(id).Outcome)
	}
	for _, e := range emails {
		require.Equal(t, 1, b.idp.accepted(e), "%s got one email", e)
	}
}

// The start-up check runs beside the first tasks, not before them: the
// IdP refuses those alike, and no task is spent either way.
func TestAStartUpCheckRefusedLikeAHaltHaltsTheProvider(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *options) {
		o.noWorker = true
		o.check = func() error { return refuse(idp.Credentials).err }
	})
	b.idp.setDefault(refuse(idp.Credentials))
	ids := b.enqueueAll(users(5))
	w := b.startWorker()
	st := b.waitHalt()
	require.Equal(t, "credentials_rejected", st.Reason)
	ready, checks := w.Readiness(context.Background())
	require.True(t, ready, "halted with a reason counts as ready: %v", checks)
	require.Contains(t, checks[provider], "halted")
	require.LessOrEqual(t, len(b.idp.all()), 4+2, "at most the tasks in hand reached the IdP")
	eventually(t, func() bool { return b.queue().Active == 0 }, "no task runs")
	for _, id := range ids {
		require.NotEqual(t, "done", b.status(id).State)
	}
	require.Zero(t, b.resets(tasks.Failed, tasks.ReasonRetriesExhausted))
}
