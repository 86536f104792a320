package ratelimit

import (
	"context"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Pace is the limit resetq enforces for n resets per period: a steady
// pace, never a flood followed by silence, so the IdP's mail relay sees what
// it was promised. Its burst is the smallest that lets a slot taken a
// moment late be made up: 1 plus 10 ms of the pace. With a burst of 1, a
// worker that comes back a millisecond after its slot opened loses that
// millisecond for good, and at 200/s that is a tenth of the pace. No second
// ever holds more than n/period plus the burst.
func Pace(n int, per time.Duration) redis_rate.Limit {
	perSecond := float64(n) / per.Seconds()
	return redis_rate.Limit{Rate: n, Period: per, Burst: 1 + int(math.Ceil(perSecond*0.010))}
}

// Rule is one limit a reset is under.
type Rule struct {
	// Key is the limit's key in Redis, shared by every worker.
	Key string
	// What names the limit in errors: "provider corp".
	What  string
	Limit redis_rate.Limit
}

// Provider is the rule of a provider's limit.
func Provider(name string, l redis_rate.Limit) Rule {
	return Rule{Key: "resetq:rate:" + name, What: "provider " + name, Limit: l}
}

// Campaign is the rule of a campaign's limit of n resets per period.
func Campaign(id string, n int, per time.Duration) Rule {
	return Rule{Key: "resetq:rate:campaign:" + id, What: "campaign " + id, Limit: Pace(n, per)}
}

// WaitError is a wait longer than a task may hold its worker for.
type WaitError struct {
	Rule Rule
	// RetryAfter is when the rule has a slot again.
	RetryAfter time.Duration
}

func (e *WaitError) Error() string { return e.Rule.What + " rate limit " + e.Rule.Limit.String() }

// Limiter takes slots from rules.
type Limiter struct {
	rl      *redis_rate.Limiter
	maxHold time.Duration
}

// New returns a Limiter on rdb that sleeps through waits of up to maxHold
// in all.
func New(rdb redis.UniversalClient, maxHold time.Duration) *Limiter {
	return &Limiter{rl: redis_rate.NewLimiter(rdb), maxHold: maxHold}
}

// Wait takes a slot from each rule, in order, and returns how long it
// slept for them. A wait that would take it past maxHold is not slept: it
// returns a *WaitError. The other errors are Redis's and ctx's.
func (l *Limiter) Wait(ctx context.Context, rules ...Rule) (waited time.Duration, err error) {
	for _, r := range rules {
		for {
			res, err := l.rl.Allow(ctx, r.Key, r.Limit)
			if err != nil {
				return waited, err
			}
			if res.Allowed > 0 {
				break
			}
			if waited+res.RetryAfter > l.maxHold {
				return waited, &WaitError{Rule: r, RetryAfter: res.RetryAfter}
			}
			timer := time.NewTimer(res.RetryAfter)
			select {
			case <-ctx.Done():
				timer.Stop()
				return waited, ctx.Err()
			case <-timer.C:
				waited += res.RetryAfter
			}
		}
	}
	return waited, nil
}
