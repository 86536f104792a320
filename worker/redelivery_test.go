package worker_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/webhook"
)

// A worker dies between the IdP's success and Asynq's acknowledgement:
// here its shutdown timeout runs out, so Asynq puts the task back while the
// reset is still at the IdP, which then accepts it. The next worker to take
// the task finds the done-marker and sends nothing.
func TestATaskRedeliveredAfterTheIdPAcceptedItIsNotSentAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *options) { o.cfg.ShutdownTimeout = 100 * time.Millisecond })
	const email = "alice@example.org"
	atIdP := make(chan struct{})
	b.idp.script(email, answer{block: atIdP, deaf: true})
	id := b.enqueue(email)
	eventually(t, func() bool { return b.idp.busy() == 1 }, "the reset is at the IdP")

	b.worker().stop()
	require.Equal(t, asynq.TaskStatePending, b.task(id).State, "Asynq put the task back: it was never acknowledged")

	// The IdP accepts: an email goes out, and the first worker's handler,
	// still running, records the success.
	close(atIdP)
	r := b.wait(id)
	require.Equal(t, tasks.Succeeded, r.Outcome)
	require.Equal(t, 1, r.Attempts)
	require.Equal(t, asynq.TaskStatePending, b.task(id).State, "still queued: the acknowledgement was lost")

	b.startWorker()
	eventually(t, func() bool { return b.task(id) == nil }, "the second worker completes the task")
	require.Len(t, b.idp.all(), 1, "the IdP was called once: %v", b.idp.all())
	require.Equal(t, 1, b.idp.accepted(email), "one email")
	require.Equal(t, 1.0, b.resets(tasks.Succeeded, ""), "one outcome counted")

	// The event is queued again by the redelivery (it may not have been
	// before the crash); a receiver sees one webhook-id.
	eventually(t, func() bool { return len(b.hooks.forTask(id)) > 0 }, "reset.succeeded delivered")
	ids := map[string]bool{}
	for _, e := range b.hooks.forTask(id) {
		require.Equal(t, webhook.ResetSucceeded, e.typ)
		ids[e.id] = true
	}
	require.Len(t, ids, 1, "one event, whatever the number of deliveries")
}
