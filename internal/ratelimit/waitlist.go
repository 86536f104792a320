package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// waitlistKey holds the tasks archived while they waited for a rate limit,
// scored by when (Unix ms) they go back to their queue.
const waitlistKey = "resetq:ratelimit:waitlist"

// Waitlist puts back in their queue the tasks Asynq archived while they
// waited for a rate limit: it archives a task whose last try returns an
// error, whatever the error, and a wait is no reason for a task to end.
type Waitlist struct {
	rdb  redis.UniversalClient
	insp *asynq.Inspector
}

// NewWaitlist returns a Waitlist on rdb.
func NewWaitlist(rdb redis.UniversalClient) *Waitlist {
	return &Waitlist{rdb: rdb, insp: asynq.NewInspectorFromRedisClient(rdb)}
}

func member(queue, id string) string { return queue + "\n" + id }

// Add lists a task that is about to be archived while it waits; Release
// puts it back in its queue once at has come.
func (w *Waitlist) Add(ctx context.Context, queue, id string, at time.Time) error {
	return w.rdb.ZAdd(ctx, waitlistKey, redis.Z{Score: float64(at.UnixMilli()), Member: member(queue, id)}).Err()
}

// forget removes a member unless it was listed again, for later, meanwhile.
var forget = redis.NewScript(`
local at = redis.call("ZSCORE", KEYS[1], ARGV[1])
if at and tonumber(at) <= tonumber(ARGV[2]) then
  return redis.call("ZREM", KEYS[1], ARGV[1])
end
return 0`)

// Release puts back in their queues the listed tasks whose time has come
// and returns how many it put back. A task not archived yet (its try is
// still settling) stays listed; one no longer archived (put back by
// another process, deleted) is forgotten.
func (w *Waitlist) Release(ctx context.Context, now time.Time) (int, error) {
	due, err := w.rdb.ZRangeByScore(ctx, waitlistKey, &redis.ZRangeBy{
		Min: "-inf", Max: fmt.Sprint(now.UnixMilli()), Count: 500}).Result()
	if err != nil {
		return 0, err
	}
	released := 0
	for _, m := range due {
		queue, id, _ := strings.Cut(m, "\n")
		info, err := w.insp.GetTaskInfo(queue, id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		case err != nil:
			return released, err
		case info.State == asynq.TaskStateActive:
			continue
		case info.State == asynq.TaskStateArchived:
			if err := w.insp.RunTask(queue, id); err != nil {
				continue // another process put it back first; the next look forgets it
			}
			released++
		}
		if err := forget.Run(ctx, w.rdb, []string{waitlistKey}, m, now.UnixMilli()).Err(); err != nil {
			return released, err
		}
	}
	return released, nil
}
