package worker_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// Who asked for a reset travels with it to its outcome record and its
// event; a task queued by an earlier build, with none, still runs.
func TestTheRequesterTravelsToTheOutcomeAndItsEvent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	helpdesk := tasks.Requester{Actor: "api:helpdesk", Address: "10.0.0.4"}
	res, err := b.client.Enqueue(producer.WithRequester(context.Background(), helpdesk),
		producer.Request{Provider: provider, User: tasks.User{Email: "alice@example.org"}})
	require.NoError(t, err)
	r := b.wait(res.TaskID)
	require.Equal(t, tasks.Succeeded, r.Outcome)
	require.Equal(t, helpdesk, r.Requester, "the outcome record")
	eventually(t, func() bool { return len(b.hooks.forTask(res.TaskID)) == 1 }, "reset.succeeded delivered")
	require.Equal(t, helpdesk, b.hooks.requesterOf(res.TaskID), "the event's data.requester")

	// A request that says who asked wins over its context.
	res, err = b.client.Enqueue(producer.WithRequester(context.Background(), helpdesk),
		producer.Request{Provider: provider, User: tasks.User{Email: "bob@example.org"}, Requester: tasks.Requester{Actor: "cli:ops@bastion"}})
	require.NoError(t, err)
	require.Equal(t, tasks.Requester{Actor: "cli:ops@bastion"}, b.wait(res.TaskID).Requester)
}
