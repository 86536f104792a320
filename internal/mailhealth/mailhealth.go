package mailhealth

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// KeyPrefix starts every key of this package. The provider's name is a
// hash tag, so one provider's keys share a Redis Cluster slot.
const KeyPrefix = "resetq:mail:"

// Window is how far back the delivered and failed counts reach.
const Window = 10 * time.Minute

// bucket is the width of one count in the window.
const bucket = time.Minute

// flushEvery bounds how often one process writes its deliveries to Redis.
const flushEvery = time.Second

func keys(provider string) []string {
	p := KeyPrefix + "{" + provider + "}:"
	return []string{p + "ok", p + "failed", p + "tasks", p + "counts"}
}

// Signs is what the provider's recent mail says about one failure.
type Signs struct {
	// Streak is how many different tasks failed since the provider's last
	// delivered mail, this one included.
	Streak int
	// Failures is how many times this task failed, this one included.
	Failures int
	// DeliveredSince: the provider delivered someone's mail after this
	// task first failed.
	DeliveredSince bool
	// Delivered and Failed count the provider's mail in the last Window
	// (Delivered as flushed so far by each process).
	Delivered, Failed int
}

// Tracker records deliveries and failures. It is safe for concurrent use.
type Tracker struct {
	rdb redis.UniversalClient
	now func() time.Time

	mu      sync.Mutex
	pending map[string]*pending // by provider
}

type pending struct {
	n       int
	last    time.Time // newest delivery not yet flushed
	flushed time.Time
}

// New returns a Tracker on rdb.
func New(rdb redis.UniversalClient) *Tracker {
	return &Tracker{rdb: rdb, now: time.Now, pending: map[string]*pending{}}
}

// Delivered notes that the provider's IdP handed a mail to its relay. It
// writes to Redis at most once a second per provider; the rest is counted
// here and goes with the next write.
func (t *Tracker) Delivered(ctx context.Context, provider string) error {
	now := t.now()
	t.mu.Lock()
	p := t.pending[provider]
	if p == nil {
		p = &pending{}
		t.pending[provider] = p
	}
	p.n++
	p.last = now
	if now.Sub(p.flushed) < flushEvery {
		t.mu.Unlock()
		return nil
	}
	n, last := p.n, p.last
	p.n, p.flushed = 0, now
	t.mu.Unlock()
	if err := t.flush(ctx, provider, n, last); err != nil {
		t.mu.Lock()
		p.n += n // try again with the next delivery
		t.mu.Unlock()
		return err
	}
	return nil
}

func (t *Tracker) flush(ctx context.Context, provider string, n int, last time.Time) error {
	k := keys(provider)
	b := strconv.FormatInt(last.Truncate(bucket).Unix(), 10)
	_, err := t.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Eval(ctx, `local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1`,
			[]string{k[0]}, last.UnixMilli(), (2 * Window).Milliseconds())
		pipe.HIncrBy(ctx, k[3], "ok:"+b, int64(n))
		pipe.PExpire(ctx, k[3], 2*Window)
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording %s's delivered mail: %w", provider, err)
	}
	return nil
}

// failedScript records one failure and reads the signs. KEYS: ok, failed
// (task -> its last failure), tasks (task -> "first failure:failures"),
// counts. ARGV: now (ms), task, window (ms), this bucket's field, the oldest
// bucket kept (s).
var failedScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local task = ARGV[2]
local window = tonumber(ARGV[3])
local ok = tonumber(redis.call('GET', KEYS[1]) or '0')
local first, failures = now, 0
local seen = redis.call('HGET', KEYS[3], task)
if seen then
  local f, n = string.match(seen, '^(%d+):(%d+)$')
  first, failures = tonumber(f), tonumber(n)
end
failures = failures + 1
redis.call('ZADD', KEYS[2], now, task)
redis.call('HSET', KEYS[3], task, first .. ':' .. failures)
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - window)) do
  redis.call('HDEL', KEYS[3], old)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
redis.call('HINCRBY', KEYS[4], ARGV[4], 1)
for _, k in ipairs({KEYS[2], KEYS[3], KEYS[4]}) do redis.call('PEXPIRE', k, 2 * window) end
local streak = redis.call('ZCOUNT', KEYS[2], '(' .. ok, '+inf')
local delivered, failed = 0, 0
local oldest = tonumber(ARGV[5])
local fields = redis.call('HGETALL', KEYS[4])
for i = 1, #fields, 2 do
  local kind, at = string.match(fields[i], '^(%a+):(%d+)$')
  at = tonumber(at)
  if at and at < oldest then
    redis.call('HDEL', KEYS[4], fields[i])
  elseif kind == 'ok' then
    delivered = delivered + tonumber(fields[i + 1])
  elseif kind == 'fail' then
    failed = failed + tonumber(fields[i + 1])
  end
end
local since = 0
if ok > first then since = 1 end
return {streak, failures, since, delivered, failed}
`)

// Failed records that the provider's IdP could not send task's mail, and
// returns what the provider's recent mail says.
func (t *Tracker) Failed(ctx context.Context, provider, task string) (Signs, error) {
	// This process's newest deliveries count first: a streak must not
	// reach back past a delivery that is only waiting for its flush.
	t.mu.Lock()
	var n int
	var last time.Time
	if p := t.pending[provider]; p != nil && p.n > 0 {
		n, last = p.n, p.last
		p.n, p.flushed = 0, t.now()
	}
	t.mu.Unlock()
	if n > 0 {
		if err := t.flush(ctx, provider, n, last); err != nil {
			return Signs{}, err
		}
	}
	now := t.now()
	b := now.Truncate(bucket)
	oldest := b.Add(-Window + bucket)
	res, err := failedScript.Run(ctx, t.rdb, keys(provider), now.UnixMilli(), task, Window.Milliseconds(),
		"fail:"+strconv.FormatInt(b.Unix(), 10), oldest.Unix()).Int64Slice()
	if err != nil {
		return Signs{}, fmt.Errorf("recording %s's failed mail: %w", provider, err)
	}
	if len(res) != 5 {
		return Signs{}, fmt.Errorf("recording %s's failed mail: unexpected answer %v", provider, res)
	}
	return Signs{Streak: int(res[0]), Failures: int(res[1]), DeliveredSince: res[2] == 1, Delivered: int(res[3]),
		Failed: int(res[4])}, nil
}

// Forget drops a task's failures, once it has ended.
func (t *Tracker) Forget(ctx context.Context, provider, task string) error {
	k := keys(provider)
	_, err := t.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.ZRem(ctx, k[1], task)
		pipe.HDel(ctx, k[2], task)
		return nil
	})
	return err
}

// Clear forgets the provider's failures: after a halt, the count starts
// again from the resume.
func (t *Tracker) Clear(ctx context.Context, provider string) error {
	k := keys(provider)
	return t.rdb.Del(ctx, k[1], k[2], k[3]).Err()
}
