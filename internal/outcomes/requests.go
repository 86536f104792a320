package outcomes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RequestKeyPrefix starts the key that holds the fingerprint of the request
// a keyed task answers (tasks.Payload.Fingerprint). It lives while the
// task waits and then as long as the task's outcome, so a request that
// reuses the key is compared with the one the task was made for for as
// long as the key names the task.
const RequestKeyPrefix = "resetq:request:"

// RequestKey is the Redis key of the request a task answers.
func RequestKey(taskID string) string { return RequestKeyPrefix + taskID }

// ClaimRequest records fingerprint as the request taskID answers, for ttl,
// unless a request is recorded already: then it changes nothing and
// returns the recorded fingerprint. It returns "" when this call recorded
// it. Of concurrent claims exactly one records.
func (s *Store) ClaimRequest(ctx context.Context, taskID, fingerprint string, ttl time.Duration) (string, error) {
	prev, err := claimScript.Run(ctx, s.rdb, []string{RequestKey(taskID)}, fingerprint, ttl.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("recording the request of %s: %w", taskID, err)
	}
	return prev, nil
}

// ReplaceRequest records fingerprint as the request taskID answers, when
// that was found otherwise than by ClaimRequest (from the task itself).
func (s *Store) ReplaceRequest(ctx context.Context, taskID, fingerprint string) error {
	err := s.rdb.SetArgs(ctx, RequestKey(taskID), fingerprint, redis.SetArgs{Mode: "XX", KeepTTL: true}).Err()
	if err != nil && !errors.Is(err, redis.Nil) { // Nil: no request recorded, none made
		return fmt.Errorf("recording the request of %s: %w", taskID, err)
	}
	return nil
}

// SET NX GET would do, from Redis 7.0; resetq supports 6.2.
var claimScript = redis.NewScript(`
local prev = redis.call("GET", KEYS[1])
if prev then return prev end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return false`)
