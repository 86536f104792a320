package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/webhook"
)

func withDuplicateWindow(o *options) { o.provider.DuplicateWindow = 15 * time.Minute }

func TestASecondResetOfTheSameUserInsideTheDuplicateWindowIsSkipped(t *testing.T) {
	t.Parallel()
	b := setup(t, withDuplicateWindow)
	const email = "alice@example.org"
	first := b.wait(b.enqueue(email))
	require.Equal(t, tasks.Succeeded, first.Outcome)

	id := b.enqueue(strings.ToUpper(email))
	second := b.wait(id)
	require.Equal(t, tasks.Skipped, second.Outcome)
	require.Equal(t, tasks.ReasonRecentlyReset, second.Reason)
	require.Contains(t, second.Error, "inside the provider's duplicate window of 15m0s")
	require.Contains(t, second.Error, "(task "+first.TaskID+")", "the earlier task is named")
	require.Len(t, b.idp.all(), 1, "the second was not sent to the IdP")
	require.Equal(t, 1.0, b.resets(tasks.Skipped, tasks.ReasonRecentlyReset))
	eventually(t, func() bool { return len(b.hooks.forTask(id)) == 1 }, "reset.skipped delivered")
	require.Equal(t, event{id: b.hooks.forTask(id)[0].id, typ: webhook.ResetSkipped, taskID: id,
		outcome: tasks.Skipped, reason: tasks.ReasonRecentlyReset}, b.hooks.forTask(id)[0])

	keys, err := b.rdb.Keys(context.Background(), "resetq:recent:*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.NotContains(t, keys[0], "alice", "the key does not name the user")
}

func TestAResetThatDidNotGoOutReleasesTheDuplicateWindow(t *testing.T) {
	t.Parallel()
	b := setup(t, withDuplicateWindow)
	const email = "bob@example.org"
	b.idp.script(email, refuse(idp.UserNotFound))
	r := b.wait(b.enqueue(email))
	require.Equal(t, tasks.Skipped, r.Outcome)
	require.Equal(t, tasks.ReasonUserNotFound, r.Reason)

	// The user is created; the next request is sent, not skipped.
	r = b.wait(b.enqueue(email))
	require.Equal(t, tasks.Succeeded, r.Outcome, r.Error)
	// That one did go out, so the window holds now.
	r = b.wait(b.enqueue(email))
	require.Equal(t, tasks.ReasonRecentlyReset, r.Reason)
	require.Equal(t, 1, b.idp.accepted(email))
	require.Len(t, b.idp.all(), 2)
}

func TestARetriedTaskKeepsItsOwnDuplicateWindowClaim(t *testing.T) {
	t.Parallel()
	b := setup(t, withDuplicateWindow)
	const email = "carol@example.org"
	// A mail failure goes back to the queue at once: the next attempt is a
	// redelivery of the same task, which must not be skipped by its own
	// claim.
	b.idp.script(email, refuse(idp.MailFailed))
	r := b.wait(b.enqueue(email))
	require.Equal(t, tasks.Succeeded, r.Outcome, r.Error)
	require.Equal(t, 2, r.Attempts)
	require.Equal(t, 1, b.idp.accepted(email))
}
