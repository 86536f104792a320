package producer_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/outcomes"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// pendingUsers lists the users of the tasks waiting on provider "idle"
// whose idempotency key is key.
func pendingUsers(t *testing.T, rdb redis.UniversalClient, key string) []tasks.User {
	t.Helper()
	tis, err := asynq.NewInspectorFromRedisClient(rdb).ListPendingTasks(tasks.QueueName("idle"), asynq.PageSize(1000))
	require.NoError(t, err)
	var out []tasks.User
	for _, ti := range tis {
		p, err := tasks.Decode(ti.Payload)
		require.NoError(t, err)
		if p.IdempotencyKey == key {
			out = append(out, p.User)
		}
	}
	return out
}

// keyed asks to reset the user of an email with an idempotency key.
func keyed(provider, email, key string) producer.Request {
	return producer.Request{Provider: provider, User: tasks.User{Email: email}, IdempotencyKey: key}
}

func TestAKeyReusedForAnotherUserIsRefused(t *testing.T) {
	t.Parallel()
	c, rdb := newClient(t)
	ctx := context.Background()
	key := uniq("KEY")
	alice := producer.Request{Provider: "idle", User: tasks.User{Email: "alice@example.com"}, IdempotencyKey: key,
		Actions: []string{"UPDATE_PASSWORD", "VERIFY_EMAIL"}, Meta: map[string]string{"ticket": "HD-1", "by": "helpdesk"}}
	first, err := c.Enqueue(ctx, alice)
	require.NoError(t, err)
	require.False(t, first.Duplicate)

	bob := alice
	bob.User = tasks.User{Email: "bob@example.com"}
	_, err = c.Enqueue(ctx, bob)
	require.Error(t, err, "another user under a used key is not a duplicate")
	require.ErrorIs(t, err, producer.ErrIdempotencyConflict)
	require.NotErrorIs(t, err, producer.ErrInvalidRequest)
	require.Contains(t, err.Error(), key)
	require.NotContains(t, err.Error(), "bob")
	require.NotContains(t, err.Error(), "alice")

	for name, change := range map[string]func(r *producer.Request){
		"other meta":    func(r *producer.Request) { r.Meta = map[string]string{"ticket": "HD-2", "by": "helpdesk"} },
		"other actions": func(r *producer.Request) { r.Actions = []string{"UPDATE_PASSWORD"} },
		"username":      func(r *producer.Request) { r.User = tasks.User{Username: "alice@example.com"} },
	} {
		r := alice
		change(&r)
		_, err := c.Enqueue(ctx, r)
		require.ErrorIs(t, err, producer.ErrIdempotencyConflict, name)
	}

	// The same request, however its maps are built, is a duplicate.
	again := alice
	again.Meta = map[string]string{"by": "helpdesk", "ticket": "HD-1"}
	again.Actions = []string{"VERIFY_EMAIL", "UPDATE_PASSWORD"}
	dup, err := c.Enqueue(ctx, again)
	require.NoError(t, err)
	require.True(t, dup.Duplicate)
	require.Equal(t, first.TaskID, dup.TaskID)
	require.Equal(t, []tasks.User{{Email: "alice@example.com"}}, pendingUsers(t, rdb, key))
}

func TestConcurrentEnqueuesWithOneKeyAndTwoUsersHaveOneWinner(t *testing.T) {
	t.Parallel()
	c, rdb := newClient(t)
	ctx := context.Background()
	for range 20 {
		key := uniq("race")
		start := make(chan struct{})
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, email := range []string{"alice@example.com", "bob@example.com"} {
			wg.Go(func() {
				<-start
				res, err := c.Enqueue(ctx, keyed("idle", email, key))
				if err == nil && res.Duplicate {
					err = errors.New("reported a duplicate")
				}
				errs[i] = err
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
				continue
			}
			require.ErrorIs(t, err, producer.ErrIdempotencyConflict)
		}
		require.Equal(t, 1, won, "exactly one request wins the key: %v", errs)
		require.Len(t, pendingUsers(t, rdb, key), 1)
	}
}

func TestAKeyIsComparedAfterItsResetFinished(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := context.Background()
	alice := keyed("corp", "alice@example.com", uniq("done"))
	res, err := c.Enqueue(ctx, alice)
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := c.Wait(wctx, res.TaskID)
	require.NoError(t, err)
	require.Equal(t, tasks.Succeeded, r.Outcome)

	_, err = c.Enqueue(ctx, keyed("corp", "bob@example.com", alice.IdempotencyKey))
	require.ErrorIs(t, err, producer.ErrIdempotencyConflict)
	dup, err := c.Enqueue(ctx, alice)
	require.NoError(t, err)
	require.True(t, dup.Duplicate)
	require.Equal(t, res.TaskID, dup.TaskID)
}

func TestAKeyIsComparedWithATaskThatOutlivedItsRecord(t *testing.T) {
	t.Parallel()
	c, rdb := newClient(t)
	ctx := context.Background()
	key := uniq("old")
	alice := keyed("idle", "alice@example.com", key)
	res, err := c.Enqueue(ctx, alice)
	require.NoError(t, err)
	// The task waited longer than its request is recorded (a long halt).
	n, err := rdb.Del(ctx, outcomes.RequestKey(res.TaskID)).Result()
	require.NoError(t, err)

	bob := keyed("idle", "bob@example.com", key)
	_, err = c.Enqueue(ctx, bob)
	require.ErrorIs(t, err, producer.ErrIdempotencyConflict, "compared with the queued task's payload")
	_, err = c.Enqueue(ctx, bob)
	require.ErrorIs(t, err, producer.ErrIdempotencyConflict, "and its request is recorded again")
	dup, err := c.Enqueue(ctx, alice)
	require.NoError(t, err)
	require.True(t, dup.Duplicate)
	require.Equal(t, []tasks.User{{Email: "alice@example.com"}}, pendingUsers(t, rdb, key))
	require.Equal(t, int64(1), n, "the request had been recorded")
}

func TestScopesKeepTheSameKeyApart(t *testing.T) {
	t.Parallel()
	c, rdb := newClient(t)
	ctx := context.Background()
	key := uniq("KEY-1")
	ids := map[string]bool{}
	for _, scope := range []string{"", "token:app", "token:ops"} {
		res, err := c.Enqueue(ctx, producer.Request{Provider: "idle", User: tasks.User{Email: "alice@example.com"},
			IdempotencyKey: key, Scope: scope})
		require.NoError(t, err)
		require.False(t, res.Duplicate, "scope %q", scope)
		ids[res.TaskID] = true
		// Another user in another scope is no conflict either.
		_, err = c.Enqueue(ctx, producer.Request{Provider: "idle", User: tasks.User{Email: "bob@example.com"},
			IdempotencyKey: key, Scope: scope + "/2"})
		require.NoError(t, err)
	}
	require.Len(t, ids, 3)
	require.Len(t, pendingUsers(t, rdb, key), 6)
}

// unkeyedTaskID is how task IDs were derived before they were keyed: from
// the provider and the key alone, by anyone.
func unkeyedTaskID(provider, key string) string {
	h := sha256.Sum256([]byte("resetq/v1\x00" + provider + "\x00" + key))
	return "r-" + hex.EncodeToString(h[:16])
}

func TestTaskIDsCannotBeComputedFromTheKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	req := keyed("idle", "alice@example.com", "HD-4411")
	var ids []string
	for range 2 { // two deployments, each its own Redis
		rdb := redistest.Start(t).Client(t)
		c, err := producer.NewClient(producer.Config{Redis: rdb, Providers: []producer.Provider{{Name: "idle", Type: "keycloak"}}})
		require.NoError(t, err)
		res, err := c.Enqueue(ctx, req)
		require.NoError(t, err)
		require.True(t, tasks.ValidTaskID(res.TaskID))
		require.NotEqual(t, unkeyedTaskID("idle", "HD-4411"), res.TaskID)
		again, err := c.Enqueue(ctx, req)
		require.NoError(t, err)
		require.Equal(t, res.TaskID, again.TaskID, "stable within a deployment")
		ids = append(ids, res.TaskID)
	}
	require.NotEqual(t, ids[0], ids[1], "a key names another task in another deployment")
}
