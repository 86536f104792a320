package halt

import (
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/tasks"
)

// StartWithQueue runs a Redis for the test and makes Asynq know provider's
// queue there, as a first task does. It returns a client of that Redis,
// closed when the test ends, and an inspector on it. The tests of package
// halt_test share it.
func StartWithQueue(t *testing.T, provider string) (*redis.Client, *asynq.Inspector) {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	_, err := asynq.NewClientFromRedisClient(rdb).Enqueue(asynq.NewTask(tasks.TypeReset, []byte("{}")),
		asynq.Queue(tasks.QueueName(provider)))
	require.NoError(t, err)
	return rdb, asynq.NewInspectorFromRedisClient(rdb)
}
