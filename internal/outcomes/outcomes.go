package outcomes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/tasks"
)

// KeyPrefix starts every outcome key.
const KeyPrefix = "resetq:outcome:"

// Store reads and writes outcome records.
type Store struct {
	rdb redis.UniversalClient
	ttl time.Duration
}

// New returns a Store whose records live for ttl.
func New(rdb redis.UniversalClient, ttl time.Duration) *Store {
	return &Store{rdb: rdb, ttl: ttl}
}

// Key is the Redis key of a task's outcome.
func Key(taskID string) string { return KeyPrefix + taskID }

// Put records how a task ended, replacing any earlier record.
func (s *Store) Put(ctx context.Context, r tasks.Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	// The request the task answered is kept as long as its outcome (the
	// keys may be on different cluster nodes, so not in one transaction;
	// a request key left longer only holds its key longer).
	pipe := s.rdb.Pipeline()
	pipe.Set(ctx, Key(r.TaskID), b, s.ttl)
	pipe.PExpire(ctx, RequestKey(r.TaskID), s.ttl)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("recording the outcome of %s: %w", r.TaskID, err)
	}
	return nil
}

// Get returns a task's outcome, or nil when it has none (yet).
func (s *Store) Get(ctx context.Context, taskID string) (*tasks.Result, error) {
	b, err := s.rdb.Get(ctx, Key(taskID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the outcome of %s: %w", taskID, err)
	}
	var r tasks.Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("the outcome record of %s is corrupt: %w", taskID, err)
	}
	return &r, nil
}
