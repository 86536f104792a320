package producer_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

func newClient(t *testing.T) (*producer.Client, *redis.Client) {
	t.Helper()
	rdb := redisSrv.Client(t)
	c, err := producer.NewClient(producer.Config{Redis: rdb, Providers: []producer.Provider{
		{Name: "corp", Type: "keycloak", MaxRetries: 7, AttemptTimeout: time.Minute},
		// No worker serves "idle": its tasks stay queued for inspection.
		{Name: "idle", Type: "keycloak", MaxRetries: 3, AttemptTimeout: 2 * time.Minute},
	}})
	require.NoError(t, err)
	return c, rdb
}

func TestEnqueueRoutesAndAppliesTheProvidersSettings(t *testing.T) {
	t.Parallel()
	c, rdb := newClient(t)
	res, err := c.Enqueue(context.Background(), producer.Request{Provider: "idle", User: tasks.User{Username: "bob"},
		Actions: []string{"UPDATE_PASSWORD", "VERIFY_EMAIL"}, Meta: map[string]string{"k": "v"}})
	require.NoError(t, err)
	require.Equal(t, "resetq-idle", res.Queue)
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo(res.Queue, res.TaskID)
	require.NoError(t, err)
	require.Equal(t, 3, info.MaxRetry)
	require.Equal(t, 2*time.Minute+15*time.Second, info.Timeout, "a little above the worker's own attempt deadline")
	p, err := tasks.Decode(info.Payload)
	require.NoError(t, err)
	require.Equal(t, "bob", p.User.Username)
	require.Equal(t, []string{"UPDATE_PASSWORD", "VERIFY_EMAIL"}, p.Actions)
	require.Equal(t, "v", p.Meta["k"])
	require.WithinDuration(t, time.Now(), p.RequestedAt, time.Minute)

	st, err := c.Status(context.Background(), res.TaskID)
	require.NoError(t, err)
	require.Equal(t, "pending", st.State)
	require.Equal(t, "idle", st.Provider)
	require.Nil(t, st.Halt)
}

func TestEnqueueWithoutKeyIsAlwaysNew(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	req := producer.Request{Provider: "idle", User: tasks.User{Email: "carol@example.com"}}
	a, err := c.Enqueue(context.Background(), req)
	require.NoError(t, err)
	b, err := c.Enqueue(context.Background(), req)
	require.NoError(t, err)
	require.NotEqual(t, a.TaskID, b.TaskID)
	require.False(t, b.Duplicate)
}

func TestInvalidRequestsAreMarked(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	for name, req := range map[string]producer.Request{
		"unknown provider": {Provider: "okta", User: tasks.User{Email: "a@example.com"}},
		"no user":          {Provider: "corp"},
		"bad action":       {Provider: "corp", User: tasks.User{Email: "a@example.com"}, Actions: []string{"X"}},
	} {
		_, err := c.Enqueue(context.Background(), req)
		require.ErrorIs(t, err, producer.ErrInvalidRequest, name)
	}
	_, err := c.Status(context.Background(), "not-an-id")
	require.ErrorIs(t, err, producer.ErrInvalidRequest)
	_, err = c.Status(context.Background(), tasks.RandomTaskID())
	require.ErrorIs(t, err, producer.ErrTaskNotFound)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.Wait(ctx, tasks.RandomTaskID())
	require.ErrorIs(t, err, producer.ErrTaskNotFound, "waiting for nothing ends at once")
}

func TestNewClientChecksItsConfig(t *testing.T) {
	t.Parallel()
	_, err := producer.NewClient(producer.Config{})
	require.Error(t, err)
	rdb := redisSrv.Client(t)
	_, err = producer.NewClient(producer.Config{Redis: rdb})
	require.ErrorContains(t, err, "at least one provider")
	_, err = producer.NewClient(producer.Config{Redis: rdb, Providers: []producer.Provider{{Name: "Corp"}}})
	require.ErrorContains(t, err, "provider name")
}

func TestEnqueueRefusesAReferenceTheProviderDoesNotAccept(t *testing.T) {
	t.Parallel()
	rdb := redisSrv.Client(t)
	c, err := producer.NewClient(producer.Config{Redis: rdb, Providers: []producer.Provider{
		{Name: "idle", Type: "keygen", UserRefs: []string{"email"}}}})
	require.NoError(t, err)
	_, err = c.Enqueue(context.Background(), producer.Request{Provider: "idle", User: tasks.User{ID: "4f1c"}})
	require.ErrorIs(t, err, producer.ErrInvalidRequest)
	require.ErrorContains(t, err, `provider "idle" is a keygen provider, which resets users by email only (not by id)`)
	_, err = c.Enqueue(context.Background(), producer.Request{Provider: "idle", User: tasks.User{Email: "dave@example.com"}})
	require.NoError(t, err)
}
