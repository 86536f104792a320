package worker_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/tasks"
)

// A skipped reset is no failure: Asynq completes the task, and neither its
// archive nor its failure counter (the queue UI's error rate) sees it.
// Only a failed one is archived.
func TestASkippedResetIsNoFailureInAsynq(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *options) { o.producer.MaxRetries = 0 })
	skipped := []string{"nobody@example.org", "off@example.org", "ghost@example.org"}
	b.idp.script(skipped[0], refuse(idp.UserNotFound))
	b.idp.script(skipped[1], refuse(idp.UserDisabled))
	b.idp.script(skipped[2], refuse(idp.UserNoEmail))
	b.idp.script("broken@example.org", refuse(idp.InvalidRequest))
	ids := b.enqueueAll(append(skipped, "alice@example.org", "broken@example.org"))
	for i, id := range ids {
		r := b.wait(id)
		want := map[bool]tasks.Outcome{true: tasks.Skipped, false: tasks.Succeeded}[i < len(skipped)]
		if i == len(ids)-1 {
			want = tasks.Failed
		}
		require.Equal(t, want, r.Outcome, "%s", id)
	}
	b.settled(ids...)
	for _, id := range ids[:len(skipped)+1] {
		require.Nil(t, b.task(id), "%s completed: Asynq keeps nothing of it", id)
	}
	q := b.queue()
	require.Equal(t, 1, q.Archived, "only the failed one is archived")
	require.Equal(t, 1, q.Failed, "only the failed one counts as a failure")
	require.Equal(t, 5, q.Processed)
	require.Equal(t, 3.0, b.resets(tasks.Skipped, tasks.ReasonUserNotFound)+b.resets(tasks.Skipped, tasks.ReasonUserDisabled)+
		b.resets(tasks.Skipped, tasks.ReasonNoEmail), "resetq's own metric has the skips, with their reasons")
}
