package httpapi

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// limits holds every token to its rate and daily quota of resets, through
// Redis, so that every API process (and every worker serving the API)
// counts against the same numbers.
type limits struct {
	rdb  redis.UniversalClient
	rate *redis_rate.Limiter
	now  func() time.Time
}

func newLimits(rdb redis.UniversalClient, now func() time.Time) *limits {
	if rdb == nil {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &limits{rdb: rdb, rate: redis_rate.NewLimiter(rdb), now: now}
}

// clientRate is a token's rate limit for redis_rate: a burst of one
// second's worth (at least one), so a client that asks at its rate is
// never refused, and one that floods is stopped within a second.
func clientRate(n int, per time.Duration) redis_rate.Limit {
	burst := max(1, int(math.Ceil(float64(n)/per.Seconds())))
	return redis_rate.Limit{Rate: n, Period: per, Burst: burst}
}

// takeQuota counts one reset against the day's quota, unless the quota is
// spent: then it counts nothing and answers 0.
var takeQuota = redis.NewScript(`
local n = redis.call("INCR", KEYS[1])
if n == 1 then redis.call("EXPIRE", KEYS[1], 172800) end
if n > tonumber(ARGV[1]) then
  redis.call("DECR", KEYS[1])
  return 0
end
return n`)

func quotaKey(token string, day time.Time) string {
	return "resetq:api-quota:" + token + ":" + day.Format(time.DateOnly)
}

// take admits one reset for the token, or refuses it with a 429 problem
// and Retry-After (set on w). Give back what was taken with the returned
// function when nothing was enqueued after all (a duplicate, an error).
func (l *limits) take(ctx context.Context, w http.ResponseWriter, t *token) (giveBack func(), err error) {
	giveBack = func() {}
	if l == nil || (t.RateN == 0 && t.DailyLimit == 0) {
		return giveBack, nil
	}
	if t.RateN > 0 {
		res, err := l.rate.Allow(ctx, "resetq:api-rate:"+t.Name, clientRate(t.RateN, t.RatePer))
		if err != nil {
			return giveBack, err
		}
		if res.Allowed == 0 {
			return giveBack, tooMany(w, res.RetryAfter, "rate-limited", "Rate limited",
				fmt.Sprintf("token %q may ask for %d reset(s) per %s; nothing was enqueued", t.Name, t.RateN, t.RatePer))
		}
	}
	if t.DailyLimit > 0 {
		now := l.now().UTC()
		key := quotaKey(t.Name, now)
		n, err := takeQuota.Run(ctx, l.rdb, []string{key}, t.DailyLimit).Int()
		if err != nil {
			return giveBack, err
		}
		if n == 0 {
			midnight := now.Truncate(24 * time.Hour).Add(24 * time.Hour)
			return giveBack, tooMany(w, midnight.Sub(now), "quota-exceeded", "Daily quota exceeded",
				fmt.Sprintf("token %q may ask for %d reset(s) a day (UTC) and has; nothing was enqueued", t.Name, t.DailyLimit))
		}
		giveBack = func() { _ = l.rdb.Decr(context.WithoutCancel(ctx), key).Err() }
	}
	return giveBack, nil
}

// tooMany is a 429 problem whose Retry-After says when to come back (in
// whole seconds, rounded up).
func tooMany(w http.ResponseWriter, after time.Duration, kind, title, detail string) error {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(after.Seconds())))))
	return &problemError{status: http.StatusTooManyRequests, kind: kind, title: title, detail: detail}
}
