package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/webhook"
)

func TestTransientErrorsOnEveryAttemptEndFailedOnceWithTheLastError(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *options) { o.producer.MaxRetries = 1 })
	b.idp.setDefault(refuse(idp.Transient))
	const email = "alice@example.org"
	id := b.enqueue(email)
	r := b.wait(id)
	require.Equal(t, tasks.Failed, r.Outcome)
	require.Equal(t, tasks.ReasonRetriesExhausted, r.Reason)
	require.Equal(t, 2, r.Attempts, "the first try and its one retry")
	require.Contains(t, r.Error, "HTTP 502")
	require.Greater(t, len(b.idp.callsFor(email)), 2, "retried within each attempt too")
	require.Zero(t, b.idp.accepted(email))

	eventually(t, func() bool { info := b.task(id); return info != nil && info.State == asynq.TaskStateArchived },
		"archived")
	require.Equal(t, 1, b.task(id).Retried)
	b.settled(id)
	require.Equal(t, []event{{id: b.hooks.forTask(id)[0].id, typ: webhook.ResetFailed, taskID: id, outcome: tasks.Failed,
		reason: tasks.ReasonRetriesExhausted}}, b.hooks.forTask(id), "exactly one event")
	require.Equal(t, 1.0, b.resets(tasks.Failed, tasks.ReasonRetriesExhausted), "exactly one outcome counted")
	require.Zero(t, b.resets(tasks.Succeeded, ""))
}

// An error the handler does not classify (here a panic) on the last try
// still ends the task with exactly one outcome.
func TestAPanickingProviderEndsFailedOnceOnTheLastTry(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *options) { o.producer.MaxRetries = 0 })
	b.idp.setDefault(answer{panics: true})
	id := b.enqueue("alice@example.org")
	r := b.wait(id)
	require.Equal(t, tasks.Failed, r.Outcome)
	require.Equal(t, tasks.ReasonRetriesExhausted, r.Reason)
	require.Contains(t, r.Error, "the handler panicked")
	b.settled(id)
	require.Len(t, b.hooks.forTask(id), 1)
	require.Equal(t, 1.0, b.resets(tasks.Failed, tasks.ReasonRetriesExhausted))
	st, err := b.halts.Get(context.Background(), provider)
	require.NoError(t, err)
	require.Nil(t, st, "a panic does not halt the provider")
}

// Asynq's own deadline for a task (its Timeout) cuts the attempt on the
// last try: the task ends failed once, through the error handler, not once
// more by the handler that was cut.
func TestATaskCutByItsDeadlineOnTheLastTryEndsFailedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *options) { o.provider.AttemptTimeout = 10 * time.Second })
	b.idp.setDefault(answer{block: make(chan struct{})}) // never answers; honours its context
	p := tasks.Payload{V: tasks.PayloadVersion, Requester: tasks.Requester{Actor: "app:test"}, Provider: provider, User: tasks.User{Email: "alice@example.org"},
		RequestedAt: time.Now().UTC()}
	body, err := p.Encode()
	require.NoError(t, err)
	id := tasks.RandomTaskID()
	_, err = asynq.NewClientFromRedisClient(b.rdb).Enqueue(asynq.NewTask(tasks.TypeReset, body), asynq.TaskID(id),
		asynq.Queue(tasks.QueueName(provider)), asynq.MaxRetry(0), asynq.Timeout(time.Second)) // whole seconds in Asynq
	require.NoError(t, err)

	r := b.wait(id)
	require.Equal(t, tasks.Failed, r.Outcome)
	require.Equal(t, tasks.ReasonRetriesExhausted, r.Reason)
	require.Contains(t, r.Error, "deadline exceeded")
	eventually(t, func() bool { return b.idp.busy() == 0 }, "the cut call returned")
	eventually(t, func() bool { info := b.task(id); return info != nil && info.State == asynq.TaskStateArchived },
		"archived")
	b.settled(id)
	require.Equal(t, 1.0, b.resets(tasks.Failed, tasks.ReasonRetriesExhausted), "one outcome counted")
	require.Len(t, b.hooks.forTask(id), 1)
}
