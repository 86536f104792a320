package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// Key is the Redis Stream that holds the trail. It is one key, so it
// lives on one node of a Redis Cluster like any other.
const Key = "resetq:audit"

// Defaults of Config, the same as the configuration's audit section.
const (
	DefaultRetention  = 90 * 24 * time.Hour
	DefaultMaxRecords = 2_000_000
)

// MaxFieldBytes bounds each text field of a record; a longer value is cut
// (at a character) and ends with "…". It keeps one record, and so the
// trail's memory, bounded whatever a caller passes on.
const MaxFieldBytes = 1024

// trimEvery is how often one process trims records past retention.
// Retention is counted in days: a minute late is nothing, and the other
// appends of the minute stay one XADD each.
const trimEvery = time.Minute

// pageSize is how many records Query reads from Redis at a time.
const pageSize = 1000

// Record is one entry of the trail. It is the export format too (the JSON
// names below, and Header's columns for CSV): fields are added, never
// renamed or removed.
type Record struct {
	// ID is the record's stream ID ("1732300000123-0"), set by the trail:
	// it orders records and names one of them.
	ID string `json:"id"`
	// Time is when the record was appended, to the millisecond, by the
	// Redis server's clock (the ID's first part). Leave it zero when
	// appending; see Trail.Append.
	Time time.Time `json:"time"`
	// Actor is who acted: "api:helpdesk" (an API token's name),
	// "cli:alice@host", "console:ops", "app:billing" (a Go application),
	// "worker".
	Actor string `json:"actor"`
	// Address is the client's IP address, when the request came over the
	// network.
	Address string `json:"address,omitempty"`
	// Action is what was done: "reset.request", "reset.outcome",
	// "campaign.start", "campaign.pause", "provider.resume",
	// "provider.check", "webhook.enable", ….
	Action string `json:"action"`
	// Target is what it was done to: "provider:corp", "campaign:spring",
	// "task:<id>", "webhook:crm".
	Target string `json:"target"`
	// Result is how it went: "accepted", "duplicate", "conflict",
	// "refused" for requests; "succeeded", "skipped", "failed" for
	// outcomes; "ok" or "failed" for operator actions.
	Result string `json:"result"`
	// Reason says why, when the result needs one ("user_not_found",
	// "invalid_request: user.email …").
	Reason string `json:"reason,omitempty"`
	// TaskID is the reset's task ID, for requests and outcomes.
	TaskID string `json:"task_id,omitempty"`
	// Provider and Campaign name the provider and campaign involved.
	Provider string `json:"provider,omitempty"`
	Campaign string `json:"campaign,omitempty"`
	// User names the user as the logs do: the address only with
	// log.include_user, otherwise a keyed hash ("email:3fa2c1…"). The
	// trail stores what it is given.
	User string `json:"user,omitempty"`
}

// fields are the stream entry's field names, in the order every entry
// writes them. Every entry has all of them (empty when unset): Redis then
// stores the names once per node of the stream instead of once per entry.
var fields = []string{"actor", "address", "action", "target", "result", "reason", "task_id", "provider", "campaign", "user"}

func (r *Record) field(name string) *string {
	switch name {
	case "actor":
		return &r.Actor
	case "address":
		return &r.Address
	case "action":
		return &r.Action
	case "target":
		return &r.Target
	case "result":
		return &r.Result
	case "reason":
		return &r.Reason
	case "task_id":
		return &r.TaskID
	case "provider":
		return &r.Provider
	case "campaign":
		return &r.Campaign
	case "user":
		return &r.User
	}
	return nil
}

// values is the stream entry of r, its fields bounded and valid UTF-8.
func (r *Record) values() []any {
	out := make([]any, 0, 2*len(fields))
	for _, f := range fields {
		out = append(out, f, bound(*r.field(f)))
	}
	return out
}

func (r *Record) validate() error {
	for _, f := range []string{"actor", "action", "target", "result"} {
		if strings.TrimSpace(*r.field(f)) == "" {
			return fmt.Errorf("audit: record.%s is required", f)
		}
	}
	if !r.Time.IsZero() && r.Time.UnixMilli() <= 0 {
		return fmt.Errorf("audit: record.time %s is before 1970", r.Time.Format(time.RFC3339))
	}
	return nil
}

// bound makes s valid UTF-8 of at most MaxFieldBytes.
func bound(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxFieldBytes {
		return s
	}
	cut := MaxFieldBytes - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Config configures a Trail.
type Config struct {
	Redis redis.UniversalClient
	// Retention is how long a record is kept (DefaultRetention).
	Retention time.Duration
	// MaxRecords bounds the trail whatever its records' age
	// (DefaultMaxRecords); the oldest go first.
	MaxRecords int
	// Now is the clock retention is counted on (time.Now).
	Now func() time.Time
	// AppendOnly appends without trimming: for a process that does not
	// know the deployment's bounds (an application's producer client),
	// whose defaults could drop records the configuration keeps.
	AppendOnly bool
}

// WithDefaults returns c with its zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.MaxRecords == 0 {
		c.MaxRecords = DefaultMaxRecords
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Redis == nil:
		return errors.New("audit: Config.Redis is required")
	case c.Retention < 0:
		return fmt.Errorf("audit: Config.Retention must be positive, not %s", c.Retention)
	case c.MaxRecords < 0:
		return fmt.Errorf("audit: Config.MaxRecords must be positive, not %d", c.MaxRecords)
	}
	return nil
}

// Trail is the audit trail in Redis. It is safe for concurrent use: make
// one per process and share it, as its once-a-minute trim is counted per
// Trail.
type Trail struct {
	cfg Config
	// nextTrim is when this process trims records past retention next, in
	// Unix nanoseconds: 0 trims on the first append.
	nextTrim atomic.Int64
}

// New checks cfg and returns the trail it describes.
func New(cfg Config) (*Trail, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Trail{cfg: cfg}, nil
}

// Append adds r to the trail: one XADD, which also trims the trail to
// about MaxRecords (whole nodes of the stream, so it may hold a hundred or
// so more). Once a minute the same round trip also trims the records past
// retention.
//
// Actor, Action, Target and Result are required; r.ID is ignored. Leave
// r.Time zero: the Redis server's clock then stamps the record, one clock
// for every worker, API and command line however their own clocks drift,
// so the trail's order is its time order and nobody backdates a record.
// A given Time (imports, tests) becomes the ID's milliseconds instead; it
// needs Redis 7, and Redis refuses it when it is not after the trail's
// newest record, as the trail only grows at its end.
//
// A nil Trail keeps nothing: a caller without one need not check.
func (t *Trail) Append(ctx context.Context, r Record) error {
	if t == nil {
		return nil
	}
	if err := r.validate(); err != nil {
		return err
	}
	now := t.cfg.Now()
	if t.cfg.AppendOnly || !t.trimDue(now) {
		if err := t.add(ctx, t.cfg.Redis, r).Err(); err != nil {
			return fmt.Errorf("audit: appending %s %s: %w", r.Action, r.Target, err)
		}
		return nil
	}
	pipe := t.cfg.Redis.Pipeline()
	add := t.add(ctx, pipe, r)
	trim := t.trim(ctx, pipe, now)
	_, _ = pipe.Exec(ctx)
	if err := add.Err(); err != nil {
		t.nextTrim.Store(0)
		return fmt.Errorf("audit: appending %s %s: %w", r.Action, r.Target, err)
	}
	if trim.Err() != nil {
		// The record is kept; the next append tries the trim again.
		t.nextTrim.Store(0)
	}
	return nil
}

// add is the XADD of r, trimming the trail to about MaxRecords.
func (t *Trail) add(ctx context.Context, c redis.Cmdable, r Record) *redis.StringCmd {
	id := "*"
	if !r.Time.IsZero() {
		id = strconv.FormatInt(r.Time.UnixMilli(), 10) + "-*"
	}
	args := &redis.XAddArgs{Stream: Key, MaxLen: int64(t.cfg.MaxRecords), Approx: true, ID: id, Values: r.values()}
	if t.cfg.AppendOnly {
		args.MaxLen, args.Approx = 0, false
	}
	return c.XAdd(ctx, args)
}

// trimDue says whether this call trims: the first of the process, then
// one a minute, whoever else appends at the same time.
func (t *Trail) trimDue(now time.Time) bool {
	next := t.nextTrim.Load()
	if now.UnixNano() < next {
		return false
	}
	return t.nextTrim.CompareAndSwap(next, now.Add(trimEvery).UnixNano())
}

// cutoff is the oldest time a record is kept at now.
func (t *Trail) cutoff(now time.Time) time.Time { return now.Add(-t.cfg.Retention) }

func (t *Trail) trim(ctx context.Context, c redis.Cmdable, now time.Time) *redis.IntCmd {
	// "~": Redis drops whole nodes of the stream only, which is cheap; a
	// node's worth of records may outlive retention a little, and Query
	// never returns them.
	return c.XTrimMinIDApprox(ctx, Key, strconv.FormatInt(t.cutoff(now).UnixMilli(), 10), 0)
}

// Trim removes the records past retention now, as appends do once a
// minute, and returns how many it removed.
func (t *Trail) Trim(ctx context.Context) (int64, error) {
	n, err := t.trim(ctx, t.cfg.Redis, t.cfg.Now()).Result()
	if err != nil {
		return 0, fmt.Errorf("audit: trimming: %w", err)
	}
	return n, nil
}

// Filter selects records.
type Filter struct {
	// Since and Until bound the records' time: from Since (included) to
	// Until (excluded), so that consecutive windows do not overlap. Zero
	// is unbounded; records past retention are never returned.
	Since, Until time.Time
	// Actor is an actor ("api:helpdesk"), or a prefix: ending in ":" it is
	// every actor of that kind ("api:" is every API token), and ending in
	// "*" every actor that starts with what comes before it
	// ("cli:alice@*"). Empty: everyone.
	Actor string
	// Action is an action ("reset.request") or, like Actor, a prefix
	// ending in "." ("campaign." is every campaign action) or "*". Empty:
	// every action.
	Action string
}

// matches says whether a value is selected by a filter's Actor or Action.
func matches(pattern, value string) bool {
	switch {
	case pattern == "":
		return true
	case strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(value, strings.TrimSuffix(pattern, "*"))
	case strings.HasSuffix(pattern, ":"), strings.HasSuffix(pattern, "."):
		return strings.HasPrefix(value, pattern)
	}
	return value == pattern
}

func (f Filter) match(r Record) bool { return matches(f.Actor, r.Actor) && matches(f.Action, r.Action) }

// Query calls fn with every record f selects, oldest first. It reads the
// trail a page at a time, so an export of millions of records never sits
// in memory. An error of fn stops it and is returned.
func (t *Trail) Query(ctx context.Context, f Filter, fn func(Record) error) error {
	since := f.Since
	if cutoff := t.cutoff(t.cfg.Now()); since.Before(cutoff) {
		since = cutoff
	}
	// Records have whole milliseconds: the first at or after since is in
	// the millisecond that since rounds up to, the last before Until in
	// the one before Until rounded up ("until now" keeps what was
	// appended earlier in this millisecond).
	first := max(ceilMilli(since), 0)
	start, end := strconv.FormatInt(first, 10), "+"
	if !f.Until.IsZero() {
		last := ceilMilli(f.Until) - 1 // an ID with only milliseconds ends at their last entry
		if last < first {
			return nil
		}
		end = strconv.FormatInt(last, 10)
	}
	for {
		page, err := t.cfg.Redis.XRangeN(ctx, Key, start, end, pageSize).Result()
		if err != nil {
			return fmt.Errorf("audit: reading the trail: %w", err)
		}
		for _, m := range page {
			r, err := recordOf(m)
			if err != nil {
				return err
			}
			if !f.match(r) {
				continue
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
		start = "(" + page[len(page)-1].ID
	}
}

// recordOf reads a stream entry; fields it does not know are left out.
func recordOf(m redis.XMessage) (Record, error) {
	r := Record{ID: m.ID}
	ms, _, _ := strings.Cut(m.ID, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return r, fmt.Errorf("audit: entry %q of %s is not a stream ID", m.ID, Key)
	}
	r.Time = time.UnixMilli(n).UTC()
	for name, v := range m.Values {
		if p := r.field(name); p != nil {
			s, _ := v.(string)
			*p = s
		}
	}
	return r, nil
}

// ceilMilli is t in Unix milliseconds, rounded up.
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.Sub(time.UnixMilli(ms)) > 0 {
		ms++
	}
	return ms
}
