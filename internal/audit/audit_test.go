package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/resetq/resetq/internal/audit"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/tasks"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a test's time, moved by hand.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time                  { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration)             { c.ns.Add(int64(d)) }
func (c *clock) since(d time.Duration) time.Time { return c.Now().Add(-d) }

type testBundle struct {
	rdb   *redis.Client
	trail *audit.Trail
	clock *clock
}

// setup starts a Redis of the test's own and a trail on it, with cfg's
// limits and a clock that stands at now until moved.
func setup(t *testing.T, cfg audit.Config) *testBundle {
	t.Helper()
	b := &testBundle{rdb: redistest.Start(t).Client(t), clock: newClock(time.Now())}
	cfg.Redis, cfg.Now = b.rdb, b.clock.Now
	var err error
	b.trail, err = audit.New(cfg)
	require.NoError(t, err)
	return b
}

// request is a realistic record: an API client's accepted reset.
func request(i int) audit.Record {
	return audit.Record{Actor: "api:helpdesk", Address: "192.0.2.17", Action: "reset.request",
		Target: "provider:corp", Result: "accepted", TaskID: fmt.Sprintf("r-%032x", i), Provider: "corp",
		User: fmt.Sprintf("email:%012x", i)}
}

func (b *testBundle) all(t *testing.T, f audit.Filter) []audit.Record {
	t.Helper()
	var out []audit.Record
	require.NoError(t, b.trail.Query(context.Background(), f, func(r audit.Record) error {
		out = append(out, r)
		return nil
	}))
	return out
}

func (b *testBundle) xlen(t *testing.T) int64 {
	t.Helper()
	n, err := b.rdb.XLen(context.Background(), audit.Key).Result()
	require.NoError(t, err)
	return n
}

// idBefore says whether stream ID a comes before b.
func idBefore(a, b string) bool {
	num := func(id string) (ms, seq uint64) {
		l, r, _ := strings.Cut(id, "-")
		ms, _ = strconv.ParseUint(l, 10, 64)
		seq, _ = strconv.ParseUint(r, 10, 64)
		return ms, seq
	}
	ams, aseq := num(a)
	bms, bseq := num(b)
	return ams < bms || ams == bms && aseq < bseq
}

func actions(rs []audit.Record) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Action+" "+r.Actor)
	}
	return out
}

func TestRecordsComeBackInOrderFilteredByTimeActorAndAction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, audit.Config{})
	base := b.clock.since(time.Hour).Truncate(time.Millisecond)
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	records := []audit.Record{
		{Time: at(0), Actor: "api:helpdesk", Address: "192.0.2.17", Action: "reset.request", Target: "provider:corp",
			Result: "accepted", TaskID: "r-1", Provider: "corp", User: "email:3fa2c1d4e5f6"},
		{Time: at(1), Actor: "api:helpdesk", Action: "reset.request", Target: "provider:corp", Result: "refused",
			Reason: "invalid_request: user.email \"x\" is not an email address", Provider: "corp"},
		{Time: at(2), Actor: "worker", Action: "reset.outcome", Target: "task:r-1", Result: "succeeded", TaskID: "r-1",
			Provider: "corp", User: "email:3fa2c1d4e5f6"},
		{Time: at(3), Actor: "cli:alice@laptop", Action: "campaign.start", Target: "campaign:spring", Result: "ok",
			Campaign: "spring", Provider: "corp"},
		{Time: at(4), Actor: "console:ops", Action: "campaign.pause", Target: "campaign:spring", Result: "ok", Campaign: "spring"},
		{Time: at(5), Actor: "api:security", Action: "provider.resume", Target: "provider:corp", Result: "ok", Provider: "corp"},
	}
	for _, r := range records {
		require.NoError(t, b.trail.Append(ctx, r))
	}

	got := b.all(t, audit.Filter{})
	require.Len(t, got, len(records))
	for i, r := range got {
		want := records[i]
		want.ID = strconv.FormatInt(want.Time.UnixMilli(), 10) + "-0"
		want.Time = want.Time.UTC()
		require.Equal(t, want, r, "record %d, with the ID the trail gave it", i)
	}

	for _, tt := range []struct {
		name string
		f    audit.Filter
		want []string
	}{
		{"since is included, until is not", audit.Filter{Since: at(1), Until: at(3)},
			[]string{"reset.request api:helpdesk", "reset.outcome worker"}},
		{"since alone", audit.Filter{Since: at(4)}, []string{"campaign.pause console:ops", "provider.resume api:security"}},
		{"until alone", audit.Filter{Until: at(1)}, []string{"reset.request api:helpdesk"}},
		{"an empty window", audit.Filter{Since: at(3), Until: at(3)}, []string{}},
		{"an actor", audit.Filter{Actor: "api:helpdesk"}, []string{"reset.request api:helpdesk", "reset.request api:helpdesk"}},
		{"a kind of actor", audit.Filter{Actor: "api:"},
			[]string{"reset.request api:helpdesk", "reset.request api:helpdesk", "provider.resume api:security"}},
		{"an actor's prefix", audit.Filter{Actor: "cli:alice@*"}, []string{"campaign.start cli:alice@laptop"}},
		{"an actor's name is not a prefix", audit.Filter{Actor: "api:help"}, []string{}},
		{"an action", audit.Filter{Action: "reset.outcome"}, []string{"reset.outcome worker"}},
		{"a kind of action", audit.Filter{Action: "campaign."}, []string{"campaign.start cli:alice@laptop", "campaign.pause console:ops"}},
		{"everything together", audit.Filter{Since: at(1), Until: at(6), Actor: "api:", Action: "reset.*"},
			[]string{"reset.request api:helpdesk"}},
	} {
		require.Equal(t, tt.want, actions(b.all(t, tt.f)), tt.name)
	}
}

func TestTheRedisServersClockStampsARecordWithoutATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, audit.Config{})
	before := time.Now().Add(-time.Second)
	require.NoError(t, b.trail.Append(ctx, request(1)))
	require.NoError(t, b.trail.Append(ctx, request(2)))
	after := time.Now().Add(time.Second)

	got := b.all(t, audit.Filter{})
	require.Len(t, got, 2)
	for _, r := range got {
		require.WithinRange(t, r.Time, before, after)
		require.Equal(t, strconv.FormatInt(r.Time.UnixMilli(), 10), strings.Split(r.ID, "-")[0], "the time is the ID's")
	}
	require.True(t, idBefore(got[0].ID, got[1].ID))

	err := b.trail.Append(ctx, audit.Record{Time: before.Add(-time.Hour), Actor: "worker", Action: "reset.outcome",
		Target: "task:r-1", Result: "failed"})
	require.Error(t, err, "the trail only grows at its end: a time before its newest record is refused")
	require.Len(t, b.all(t, audit.Filter{}), 2)
}

func TestARecordNeedsItsActorActionTargetAndResult(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, audit.Config{})
	for field, r := range map[string]audit.Record{
		"actor":  {Action: "reset.request", Target: "provider:corp", Result: "accepted"},
		"action": {Actor: "worker", Target: "provider:corp", Result: "accepted"},
		"target": {Actor: "worker", Action: "reset.request", Result: "accepted"},
		"result": {Actor: "worker", Action: "reset.request", Target: "provider:corp", Reason: "  "},
	} {
		require.EqualError(t, b.trail.Append(ctx, r), "audit: record."+field+" is required")
	}
	require.Zero(t, b.xlen(t))
}

func TestLongOrInvalidTextIsCutToABoundedValidField(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, audit.Config{})
	r := request(1)
	r.Reason = strings.Repeat("é", audit.MaxFieldBytes) // two bytes each
	r.Address = "192.0.2.\xff"
	require.NoError(t, b.trail.Append(ctx, r))
	got := b.all(t, audit.Filter{})[0]
	require.LessOrEqual(t, len(got.Reason), audit.MaxFieldBytes)
	require.True(t, strings.HasSuffix(got.Reason, "é…"), "cut at a character")
	require.Equal(t, "192.0.2.\uFFFD", got.Address)
}

func TestTheExportRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, audit.Config{})
	base := b.clock.since(time.Hour)
	var want []audit.Record
	for i := range 1200 { // more than a page of Query
		r := request(i)
		r.Time = base.Add(time.Duration(i) * time.Millisecond)
		switch i % 5 {
		case 1:
			r.Result, r.Reason = "refused", "invalid_request: meta \"note\" has a \"quote\", a comma, and\na line break"
		case 2:
			r.Actor, r.Action, r.Target, r.Result, r.Reason = "worker", "reset.outcome", "task:"+r.TaskID, "skipped", "user_not_found"
		case 3:
			r.Actor, r.Action, r.Target, r.Result, r.Campaign = "console:ops", "campaign.start", "campaign:=HYPERLINK(1)", "ok", "=HYPERLINK(1)"
		}
		require.NoError(t, b.trail.Append(ctx, r))
	}
	require.NoError(t, b.trail.Query(ctx, audit.Filter{}, func(r audit.Record) error { want = append(want, r); return nil }))
	require.Len(t, want, 1200)

	// Each export is kept in the trail after the records it wrote: the
	// second is bounded to leave out the first's.
	records := audit.Filter{Until: want[len(want)-1].Time.Add(time.Millisecond)}
	var jsonl bytes.Buffer
	require.NoError(t, b.trail.Export(ctx, &jsonl, audit.JSONL, audit.Filter{}))
	require.Equal(t, 1200, strings.Count(jsonl.String(), "\n"), "one line per record")
	var back []audit.Record
	require.NoError(t, audit.ReadJSONL(&jsonl, func(r audit.Record) error { back = append(back, r); return nil }))
	require.Equal(t, want, back, "JSON lines read back are the records")

	var out bytes.Buffer
	require.NoError(t, b.trail.Export(audit.WithActor(ctx, tasks.Requester{Actor: "cli:auditor@host"}), &out, audit.CSV, records))
	rows, err := csv.NewReader(&out).ReadAll()
	require.NoError(t, err)
	require.Equal(t, audit.Header, rows[0])
	require.Len(t, rows, 1201, "the header and every record")
	for i, row := range rows[1:] {
		r := want[i]
		campaign := r.Campaign
		if strings.HasPrefix(campaign, "=") {
			campaign = "'" + campaign
		}
		require.Equal(t, []string{r.ID, r.Time.Format(time.RFC3339Nano), r.Actor, r.Address, r.Action, r.Target,
			r.Result, r.Reason, r.TaskID, r.Provider, campaign, r.User}, row, "row %d", i+1)
	}

	var empty bytes.Buffer
	require.NoError(t, b.trail.Export(ctx, &empty, audit.CSV, audit.Filter{Actor: "nobody"}))
	require.Equal(t, strings.Join(audit.Header, ",")+"\n", empty.String(), "no records: the header alone")
	empty.Reset()
	require.NoError(t, b.trail.Export(ctx, &empty, audit.JSONL, audit.Filter{Actor: "nobody"}))
	require.Empty(t, empty.String())

	require.ErrorContains(t, audit.ReadJSONL(strings.NewReader(`{"id":"1-0","color":"red"}`), func(audit.Record) error { return nil }),
		`record 1: json: unknown field "color"`)
	var exports []audit.Record
	require.NoError(t, b.trail.Query(ctx, audit.Filter{Action: "audit.export"}, func(r audit.Record) error {
		exports = append(exports, r)
		return nil
	}))
	require.GreaterOrEqual(t, len(exports), 2, "each export is kept")
	require.Equal(t, "unknown", exports[0].Actor, "nobody said who exported")
	require.Equal(t, "1200 record(s) as jsonl, since any time, until any time", exports[0].Reason)
	require.Equal(t, "cli:auditor@host", exports[1].Actor)
	require.True(t, strings.HasPrefix(exports[1].Reason, "1200 record(s) as csv, "), exports[1].Reason)
}

func TestRecordsPastRetentionAreTrimmed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, audit.Config{Retention: 90 * 24 * time.Hour})
	old := b.clock.since(100 * 24 * time.Hour)
	recent := b.clock.since(time.Hour)
	for i := range 300 {
		r := request(i)
		r.Time = old.Add(time.Duration(i) * time.Second)
		require.NoError(t, b.trail.Append(ctx, r))
	}
	for i := range 50 {
		r := request(1000 + i)
		r.Time = recent.Add(time.Duration(i) * time.Second)
		require.NoError(t, b.trail.Append(ctx, r))
	}
	require.Greater(t, b.xlen(t), int64(300), "appends within a minute of a trim do not trim again")
	require.Len(t, b.all(t, audit.Filter{}), 50, "records past retention are never returned, trimmed or not")

	b.clock.Add(time.Minute)
	last := request(2000)
	last.Time = recent.Add(time.Minute)
	require.NoError(t, b.trail.Append(ctx, last))
	n := b.xlen(t)
	require.LessOrEqual(t, n, int64(51+100), "a minute on, an append trimmed the old records (whole nodes of the stream)")
	require.GreaterOrEqual(t, n, int64(51), "and kept the recent ones")
	got := b.all(t, audit.Filter{})
	require.Len(t, got, 51)
	require.Equal(t, "r-"+fmt.Sprintf("%032x", 1000), got[0].TaskID)

	b.clock.Add(90 * 24 * time.Hour) // the recent records are now past retention too
	removed, err := b.trail.Trim(ctx)
	require.NoError(t, err)
	require.Positive(t, removed)
	require.Empty(t, b.all(t, audit.Filter{}))
}

// TestTheTrailsMemoryStaysBoundedUnder100000Records appends 100,000
// records to a trail of at most 10,000 and measures what one record costs
// in Redis (the README's figure comes from this test's log).
func TestTheTrailsMemoryStaysBoundedUnder100000Records(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const maxRecords, total = 10_000, 100_000
	b := setup(t, audit.Config{MaxRecords: maxRecords})
	nodeEntries, err := b.rdb.ConfigGet(ctx, "stream-node-max-entries").Result()
	require.NoError(t, err)
	slack, err := strconv.Atoi(nodeEntries["stream-node-max-entries"])
	require.NoError(t, err)
	memory := func() int64 {
		n, err := b.rdb.MemoryUsage(ctx, audit.Key, 0).Result() // SAMPLES 0: every node counted
		require.NoError(t, err)
		return n
	}
	appendN := func(from, n int) { // in pipelines of a thousand XADDs, each as Append sends it
		for start := from; start < from+n; start += 1000 {
			pipe := b.rdb.Pipeline()
			for i := start; i < min(start+1000, from+n); i++ {
				require.NoError(t, b.trail.AppendPipelined(ctx, pipe, request(i)))
			}
			_, err := pipe.Exec(ctx)
			require.NoError(t, err)
		}
	}

	// The first maxRecords fill the trail without trimming: their size is
	// what a record costs.
	appendN(0, maxRecords)
	require.Equal(t, int64(maxRecords), b.xlen(t))
	perRecord := float64(memory()) / maxRecords
	t.Logf("a record takes %.1f bytes in Redis (MEMORY USAGE of %d records: %d bytes); 2,000,000 take %.0f MiB",
		perRecord, maxRecords, memory(), perRecord*2_000_000/(1<<20))
	require.Less(t, perRecord, 200.0, "a request's record is small")
	bound := int64(perRecord * float64(maxRecords+slack) * 1.1)

	for from := maxRecords; from < total; from += 10_000 {
		appendN(from, 10_000)
		n := b.xlen(t)
		require.GreaterOrEqual(t, n, int64(maxRecords), "after %d records: the newest %d are kept", from+10_000, maxRecords)
		require.LessOrEqual(t, n, int64(maxRecords+slack), "after %d records: at most a node of the stream over max_records", from+10_000)
		require.LessOrEqual(t, memory(), bound, "after %d records", from+10_000)
	}
	got := b.all(t, audit.Filter{})
	require.Equal(t, int(b.xlen(t)), len(got))
	newest := map[string]bool{}
	for _, r := range got {
		newest[r.TaskID] = true
	}
	for i := total - maxRecords; i < total; i++ {
		require.True(t, newest[request(i).TaskID], "record %d, of the newest %d, is kept", i, maxRecords)
	}
}

func TestConcurrentAppendsAreEachKeptOnceInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, audit.Config{})
	const writers, each = 20, 200
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				b.clock.Add(7 * time.Second) // a trim falls due every few appends, raced for
				r := request(w*each + i)
				r.Actor = fmt.Sprintf("api:client-%d", w)
				if err := b.trail.Append(ctx, r); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	got := b.all(t, audit.Filter{})
	require.Len(t, got, writers*each)
	seen := map[string]bool{}
	next := map[string]int{} // each writer's records appear in its order
	for i, r := range got {
		require.False(t, seen[r.TaskID], "%s kept once", r.TaskID)
		seen[r.TaskID] = true
		if i > 0 {
			require.True(t, idBefore(got[i-1].ID, r.ID), "%s before %s", got[i-1].ID, r.ID)
		}
		var w int
		_, err := fmt.Sscanf(r.Actor, "api:client-%d", &w)
		require.NoError(t, err)
		require.Equal(t, request(w*each+next[r.Actor]).TaskID, r.TaskID)
		next[r.Actor]++
	}
}

func TestAnExportsWindowIsReadFromSinceAndUntil(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	f, err := audit.ParseFilter("", "", "api:", "reset.", now)
	require.NoError(t, err)
	require.Equal(t, audit.Filter{Since: now.Add(-24 * time.Hour), Until: now, Actor: "api:", Action: "reset."}, f,
		"the last 24 hours unless told")

	for _, tt := range []struct{ since, until, wantSince, wantUntil string }{
		{"2026-11-20T08:00:00Z", "2026-11-21T08:00:00+01:00", "2026-11-20T08:00:00Z", "2026-11-21T07:00:00Z"},
		{"7d", "", "2026-11-15T18:00:00Z", "2026-11-22T18:00:00Z"},
		{"90m", "30m", "2026-11-22T16:30:00Z", "2026-11-22T17:30:00Z"},
		{"1h30m", "0s", "2026-11-22T16:30:00Z", "2026-11-22T18:00:00Z"},
	} {
		f, err := audit.ParseFilter(tt.since, tt.until, "", "", now)
		require.NoError(t, err, tt.since)
		require.Equal(t, tt.wantSince, f.Since.UTC().Format(time.RFC3339), tt.since)
		require.Equal(t, tt.wantUntil, f.Until.UTC().Format(time.RFC3339), tt.since)
	}

	for _, tt := range []struct{ since, until, want string }{
		{"yesterday", "", `since "yesterday": must be an RFC 3339 time (2026-11-22T18:00:00Z) or a duration back from now (24h, 7d)`},
		{"", "-1h", `until "-1h": must be an RFC 3339 time`},
		{"-3d", "", `since "-3d": must be`},
		{"2026-11-22", "", `since "2026-11-22": must be`},
		{"1h", "2h", `since "1h": must be before until (2026-11-22T16:00:00Z)`},
		{"99999999d", "", `since "99999999d": must be`},
	} {
		_, err := audit.ParseFilter(tt.since, tt.until, "", "", now)
		require.ErrorContains(t, err, tt.want, tt.since+" "+tt.until)
		var ie *audit.InputError
		require.ErrorAs(t, err, &ie)
	}

	for s, want := range map[string]audit.Format{"": audit.JSONL, "jsonl": audit.JSONL, "csv": audit.CSV} {
		got, err := audit.ParseFormat(s)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err = audit.ParseFormat("json")
	require.EqualError(t, err, `must be jsonl or csv, not "json"`)
}

func TestAConfigIsChecked(t *testing.T) {
	t.Parallel()
	_, err := audit.New(audit.Config{})
	require.EqualError(t, err, "audit: Config.Redis is required")
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = rdb.Close() })
	_, err = audit.New(audit.Config{Redis: rdb, MaxRecords: -1})
	require.EqualError(t, err, "audit: Config.MaxRecords must be positive, not -1")
	_, err = audit.New(audit.Config{Redis: rdb, Retention: -time.Hour})
	require.EqualError(t, err, "audit: Config.Retention must be positive, not -1h0m0s")
	require.Equal(t, audit.Config{Retention: 90 * 24 * time.Hour, MaxRecords: 2_000_000},
		withoutClock(audit.Config{}.WithDefaults()))
}

func withoutClock(c audit.Config) audit.Config {
	c.Now = nil
	return c
}

// Records have whole milliseconds: a window's bounds, which need not,
// keep a record of their own millisecond on the side it belongs to, so
// "until now" has what was appended a moment ago.
func TestAWindowsBoundsInsideAMillisecond(t *testing.T) {
	t.Parallel()
	b := setup(t, audit.Config{})
	at := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	r := request(1)
	r.Time = at
	require.NoError(t, b.trail.Append(context.Background(), r))
	for _, tt := range []struct {
		name         string
		since, until time.Time
		found        bool
	}{
		{"until a moment after it, in its millisecond", time.Time{}, at.Add(300 * time.Microsecond), true},
		{"until its very time", time.Time{}, at, false},
		{"since its very time", at, time.Time{}, true},
		{"since a moment after it, in its millisecond", at.Add(300 * time.Microsecond), time.Time{}, false},
	} {
		require.Equal(t, tt.found, len(b.all(t, audit.Filter{Since: tt.since, Until: tt.until})) == 1, tt.name)
	}
}

// An append-only trail (an application's) trims nothing: the bounds are
// the deployment's, and only its own processes know them.
func TestAnAppendOnlyTrailTrimsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, audit.Config{MaxRecords: 1000})
	app, err := audit.New(audit.Config{Redis: b.rdb, MaxRecords: 1000, Retention: time.Hour, AppendOnly: true})
	require.NoError(t, err)
	ctx := context.Background()
	old := request(0)
	old.Time = time.Now().Add(-48 * time.Hour)
	require.NoError(t, app.Append(ctx, old))
	for i := range 3000 {
		require.NoError(t, app.Append(ctx, request(i+1)))
	}
	require.EqualValues(t, 3001, b.xlen(t), "neither by count nor by age")
	require.NoError(t, b.trail.Append(ctx, request(9999)))
	require.LessOrEqual(t, b.xlen(t), int64(1100), "the deployment's own trail trims to its bound")
}
