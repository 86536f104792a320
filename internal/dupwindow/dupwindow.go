package dupwindow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/tasks"
)

// Window is one provider's duplicate window. A nil Window is off: every
// claim succeeds.
type Window struct {
	rdb      redis.UniversalClient
	provider string
	length   time.Duration
}

// New returns the provider's window of length; nil when length is not
// positive (no window).
func New(rdb redis.UniversalClient, provider string, length time.Duration) *Window {
	if length <= 0 {
		return nil
	}
	return &Window{rdb: rdb, provider: provider, length: length}
}

// Length is the window's length; 0 for no window.
func (w *Window) Length() time.Duration {
	if w == nil {
		return 0
	}
	return w.length
}

// key names the user's claim. The user is hashed: keys are visible to
// anyone who can read Redis.
func (w *Window) key(u tasks.User) string {
	h := sha256.Sum256([]byte(u.Kind() + ":" + strings.ToLower(u.Value())))
	return "resetq:recent:" + w.provider + ":" + hex.EncodeToString(h[:16])
}

// Claim takes the user's claim for the window for a task. It succeeds for
// the first task inside the window, and again for the same task when it
// comes back (a retry); another task gets the task that holds the claim
// and the time since it was taken.
func (w *Window) Claim(ctx context.Context, u tasks.User, taskID string) (ok bool, holder string, since time.Duration, err error) {
	if w == nil {
		return true, "", 0, nil
	}
	key := w.key(u)
	set, err := w.rdb.SetNX(ctx, key, taskID, w.length).Result()
	if err != nil || set {
		return set, "", 0, err
	}
	holder, err = w.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		// It expired between the two calls: try once more.
		set, err = w.rdb.SetNX(ctx, key, taskID, w.length).Result()
		return set, "", 0, err
	}
	if err != nil {
		return false, "", 0, err
	}
	if holder == taskID {
		return true, "", 0, nil
	}
	ttl, err := w.rdb.PTTL(ctx, key).Result()
	if err != nil {
		return false, "", 0, err
	}
	return false, holder, w.length - ttl, nil
}

var release = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)

// Release gives the task's claim back when its reset did not go out (the
// user was not found, the request was refused), so a later request for the
// same user is not skipped for nothing. Another task's claim is left alone.
func (w *Window) Release(ctx context.Context, u tasks.User, taskID string) error {
	if w == nil {
		return nil
	}
	return release.Run(ctx, w.rdb, []string{w.key(u)}, taskID).Err()
}
