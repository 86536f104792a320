package worker_test

import (
	"context"
	"testing"
	"time"

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

// Concurrency 1: one reset at the IdP, two more tasks in hand waiting for
// their place. The IdP answers the first call only once all three are in
// hand, so the test knows which tasks the halt finds where.
func TestAHaltingErrorPausesTheProviderAndResumeSendsEveryWaitingTaskOnce(t *testing.T) {
	t.Parallel()
	for _, kind := range []idp.Kind{idp.Credentials, idp.Permission, idp.Configuration} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(o *options) { o.provider.Concurrency = 1 })
			answerNow := make(chan struct{})
			b.idp.setDefault(answer{block: answerNow, err: refuse(kind).err})
			emails := users(10)
			ids := b.enqueueAll(emails)
			eventually(t, func() bool { return b.idp.busy() == 1 && b.queue().Active == 3 }, "three tasks in hand")
			close(answerNow)

			st := b.waitHalt()
			require.Equal(t, kind.String(), st.Reason)
			require.Equal(t, refuse(kind).err.(*idp.Error).Hint, st.Hint, "the operator is told what to fix")
			require.Contains(t, st.Message, "the fake IdP says "+kind.String())
			eventually(t, func() bool { return b.queue().Paused }, "the queue is paused")
			eventually(t, func() bool { return testutil.ToFloat64(b.m.ProviderHalted.WithLabelValues(provider)) == 1 },
				"the halted gauge is raised")

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
			// Today a task waiting for its place at the IdP can still be sent
			// in the moment between the IdP's answer and the halt (the
			// place is given back first), so the bound is the tasks in
			// hand, not the one at the IdP. No task beyond them is taken.
			require.LessOrEqual(t, len(b.idp.all()), 3, "only the tasks in hand tried: %v", b.idp.all())

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
			eventually(t, func() bool { return len(b.hooks.received(webhook.ProviderResumed)) == 1 }, "provider.resumed announced")
			b.settled(ids...)
			require.Len(t, b.hooks.received(webhook.ProviderResumed), 1, "one provider.resumed")
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
	eventually(t, func() bool { return b.queue().Active == 0 }, "no task runs")
	for _, id := range ids {
		require.NotEqual(t, "done", b.status(id).State)
	}
	require.Zero(t, b.resets(tasks.Failed, tasks.ReasonRetriesExhausted))
}

// Concurrency 2: one task is at the IdP when another halts the provider;
// the operator fixes the cause and resumes before the first one's answer,
// the old refusal, comes back. That answer does not halt the provider
// again: the task is tried once more and goes out.
func TestATaskThatStartedBeforeAResumeDoesNotHaltTheProviderAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *options) { o.provider.Concurrency = 2 })
	const slow, quick = "slow@example.org", "quick@example.org"
	release := make(chan struct{})
	refused := refuse(idp.Credentials)
	b.idp.script(slow, answer{block: release, err: refused.err})
	b.idp.script(quick, refused)
	slowID := b.enqueue(slow)
	eventually(t, func() bool { return b.idp.busy() == 1 }, "the slow task is at the IdP")
	quickID := b.enqueue(quick)
	b.waitHalt()

	_, err := b.halts.Resume(context.Background(), provider)
	require.NoError(t, err)
	close(release)

	for _, id := range []string{slowID, quickID} {
		r := b.wait(id)
		require.Equal(t, tasks.Succeeded, r.Outcome, r.Error)
	}
	st, err := b.halts.Get(context.Background(), provider)
	require.NoError(t, err)
	require.Nil(t, st, "the provider stays resumed")
	require.Len(t, b.idp.callsFor(slow), 2, "refused before the resume, sent after it")
	b.settled(slowID, quickID)
	require.Len(t, b.hooks.received(webhook.ProviderHalted), 1, "one halt")
}

// An operator who resumes without fixing the cause gets the halt back, from
// the first task that meets it, however soon after the resume it starts.
func TestAResumeWithoutAFixHaltsTheProviderAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *options) { o.cfg.SyncInterval = time.Hour }) // only resumes move the generation this worker knows
	b.idp.setDefault(refuse(idp.Permission))
	ids := b.enqueueAll(users(3))
	first := b.waitHalt()
	require.Zero(t, first.Generation)

	_, err := b.halts.Resume(context.Background(), provider)
	require.NoError(t, err)
	again := b.waitHalt()
	require.Equal(t, int64(1), again.Generation, "halted again, under the generation the resume began")
	require.Equal(t, "permission_denied", again.Reason)
	eventually(t, func() bool { return b.queue().Paused && b.queue().Active == 0 }, "the queue is paused again")
	for _, id := range ids {
		require.NotEqual(t, "done", b.status(id).State, "no task ended")
	}
	eventually(t, func() bool { return len(b.hooks.received(webhook.ProviderHalted)) == 2 }, "each halt announced")
}
