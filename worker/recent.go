package worker

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

// recentKey names the claim on "a reset for this user went out recently".
// The user is hashed: keys are visible to anyone who can read Redis.
func recentKey(provider string, u tasks.User) string {
	h := sha256.Sum256([]byte(u.Kind() + ":" + strings.ToLower(u.Value())))
	return "resetq:recent:" + provider + ":" + hex.EncodeToString(h[:16])
}

// claimRecent takes the user's claim for the provider's duplicate window.
// It succeeds for the first task inside the window, and again for the same
// task when it comes back (a retry); another task gets the time since the
// claim was taken.
func (s *Server) claimRecent(ctx context.Context, p *provider, t *task) (ok bool, since time.Duration, err error) {
	key := recentKey(p.Name, t.payload.User)
	set, err := s.cfg.Redis.SetNX(ctx, key, t.id, p.DuplicateWindow).Result()
	if err != nil || set {
		return set, 0, err
	}
	holder, err := s.cfg.Redis.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		// It expired between the two calls: try once more.
		set, err = s.cfg.Redis.SetNX(ctx, key, t.id, p.DuplicateWindow).Result()
		return set, 0, err
	}
	if err != nil {
		return false, 0, err
	}
	if holder == t.id {
		return true, 0, nil
	}
	ttl, err := s.cfg.Redis.PTTL(ctx, key).Result()
	if err != nil {
		return false, 0, err
	}
	return false, p.DuplicateWindow - ttl, nil
}

// releaseRecent gives the claim back when the reset did not go out (the
// user was not found, the request was refused), so a later request for the
// same user is not skipped for nothing.
var releaseRecent = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)

func (s *Server) release(ctx context.Context, p *provider, t *task) {
	if p.DuplicateWindow <= 0 {
		return
	}
	if err := releaseRecent.Run(context.WithoutCancel(ctx), s.cfg.Redis, []string{recentKey(p.Name, t.payload.User)}, t.id).Err(); err != nil {
		s.log.Warn("could not release the duplicate-window claim; the next reset of this user may be skipped",
			"task_id", t.id, "provider", p.Name, "error", err)
	}
}
