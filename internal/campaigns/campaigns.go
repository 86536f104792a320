package campaigns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/tasks"
)

// ChunkRows is how many rows one source chunk holds.
const ChunkRows = 1000

// RecordSize is the size of one row's outcome record.
const RecordSize = 8

// IndexKey lists every campaign, scored by creation time; ActiveKey those
// not yet finished, or finished with their event not yet sent.
const (
	IndexKey  = "resetq:campaigns"
	ActiveKey = "resetq:campaigns:active"
)

// Status is where a campaign stands.
type Status string

// Statuses.
const (
	Importing Status = "importing" // rows are being stored; nothing runs yet
	Scheduled Status = "scheduled" // waiting for start_at
	Running   Status = "running"
	Paused    Status = "paused"
	Cancelled Status = "cancelled"
	Completed Status = "completed"
)

// OutcomeCancelled is the outcome of a row that a cancel kept from
// running. It is not a task outcome: the task never ran.
const OutcomeCancelled tasks.Outcome = "cancelled"

// Campaign is a campaign's settings, state and counters.
type Campaign struct {
	// ID is the campaign's name: [a-z0-9-], unique.
	ID       string
	Provider string
	// Actions asked of the IdP; empty means the provider's default.
	Actions []string
	// Source is the imported file's name; Digest its SHA-256.
	Source, Digest string
	Status         Status
	// Rows is the number of rows (users, duplicates and invalid rows
	// included).
	Rows int
	// RateN resets per RatePer, across every worker; 0 means only the
	// provider's rate limit applies.
	RateN   int
	RatePer time.Duration
	// Window is how many of its tasks may wait in the queue at once.
	Window                                int
	CreatedAt, StartAt, StartedAt         time.Time
	FinishedAt                            time.Time
	Cursor                                int
	Inflight                              int
	Succeeded, Skipped, Failed, Cancelled int
	// Notified is set once campaign.completed has been handed on.
	Notified bool
	// Chunks tags the keys that hold the campaign's rows; empty for a
	// campaign an older build imported, whose rows are under its ID.
	Chunks string
	// KeyedTaskIDs is set for a campaign whose task IDs are keyed with the
	// deployment's secret (tasks.CampaignTaskID); one created by an older
	// build keeps its unkeyed IDs (tasks.LegacyCampaignTaskID) to the end.
	KeyedTaskIDs bool
	// Requester is who started the campaign; zero for one an older build
	// started.
	Requester tasks.Requester
	// ByReason counts the rows with an outcome by outcome and reason, kept
	// as they finish; nil for a campaign an older build created, whose
	// counts are only in its rows (Manager.Reasons reads them there).
	ByReason map[Tally]int
}

// states are a row's states in the order they are listed: the outcomes,
// then the rows still queued and waiting.
var states = []string{"succeeded", "skipped", "failed", "cancelled", "queued", "waiting"}

// StateRank is where rows in state s are listed: by states, and any other
// state after them.
func StateRank(s string) int {
	if i := slices.Index(states, s); i >= 0 {
		return i
	}
	return len(states)
}

// Tally is what rows are counted by: a state (as in a report: the
// outcome, or waiting or queued) and a reason.
type Tally struct {
	State, Reason string
}

// Finished counts rows with an outcome.
func (c *Campaign) Finished() int { return c.Succeeded + c.Skipped + c.Failed + c.Cancelled }

// Waiting counts rows not yet handed to a worker.
func (c *Campaign) Waiting() int { return max(c.Rows-c.Finished()-c.Inflight, 0) }

// Done reports whether every row has an outcome.
func (c *Campaign) Done() bool { return !c.FinishedAt.IsZero() }

// Totals counts the rows by state: waiting, queued, and the outcomes.
func (c *Campaign) Totals() map[string]int {
	return map[string]int{"waiting": c.Waiting(), "queued": c.Inflight, "succeeded": c.Succeeded,
		"skipped": c.Skipped, "failed": c.Failed, "cancelled": c.Cancelled}
}

// Rate returns the campaign's pace in resets per second (0: unlimited).
func (c *Campaign) Rate() float64 {
	if c.RateN == 0 || c.RatePer <= 0 {
		return 0
	}
	return float64(c.RateN) / c.RatePer.Seconds()
}

// Store reads and changes campaigns.
type Store struct{ rdb redis.UniversalClient }

// NewStore returns the store on rdb.
func NewStore(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// ValidID reports whether id can name a campaign.
func ValidID(id string) error {
	if err := tasks.ValidateName(id); err != nil {
		return fmt.Errorf("campaign name: %w", err)
	}
	return nil
}

func metaKey(id string) string   { return "resetq:campaign:{" + id + "}" }
func outKey(id string) string    { return metaKey(id) + ":out" }
func fedKey(id string) string    { return metaKey(id) + ":fed" }
func feederKey(id string) string { return metaKey(id) + ":feeder" }
func keys(id string) []string    { return []string{metaKey(id), outKey(id), fedKey(id)} }
func atoi(s string) int          { n, _ := strconv.Atoi(s); return n }

// ms is a time as Unix milliseconds, 0 for the zero time.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(s string) time.Time {
	n, _ := strconv.ParseInt(s, 10, 64)
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}
func chunks(rows int) int        { return (rows + ChunkRows - 1) / ChunkRows }
func recordOffset(row int) int64 { return int64(row) * RecordSize }
func recordRange(from, n int) (a, b int64) {
	return recordOffset(from), recordOffset(from+n) - 1
}

// ErrExists is returned by Create for a campaign ID already taken.
var ErrExists = errors.New("campaign exists")

// Create stores a new campaign's settings and sizes its outcome records.
// Its status should be Importing until its rows are written.
func (s *Store) Create(ctx context.Context, c *Campaign) error {
	if err := ValidID(c.ID); err != nil {
		return err
	}
	fields := map[string]any{
		"id": c.ID, "provider": c.Provider, "actions": strings.Join(c.Actions, ","), "source": c.Source,
		"digest": c.Digest, "status": string(c.Status), "rows": c.Rows, "rate_n": c.RateN,
		"rate_per_ms": c.RatePer.Milliseconds(), "window": c.Window, "created_at": ms(c.CreatedAt),
		"start_at": ms(c.StartAt), "cursor": 0, "inflight": 0,
		"succeeded": 0, "skipped": 0, "failed": 0, "cancelled": 0, "by_reason": "counted",
	}
	if c.KeyedTaskIDs {
		fields["task_ids"] = "keyed"
	}
	if c.Chunks != "" {
		fields["chunks"] = c.Chunks
	}
	if c.Requester.Actor != "" {
		fields["requester"], fields["requester_address"] = c.Requester.Actor, c.Requester.Address
	}
	args := []any{recordOffset(max(c.Rows, 1)) - 1}
	for k, v := range fields {
		args = append(args, k, v)
	}
	ok, err := createScript.Run(ctx, s.rdb, keys(c.ID), args...).Int()
	if err != nil {
		return fmt.Errorf("creating campaign %s: %w", c.ID, err)
	}
	if ok == 0 {
		return fmt.Errorf("%w: %s", ErrExists, c.ID)
	}
	pipe := s.rdb.Pipeline()
	pipe.ZAdd(ctx, IndexKey, redis.Z{Score: float64(ms(c.CreatedAt)), Member: c.ID})
	pipe.SAdd(ctx, ActiveKey, c.ID)
	_, err = pipe.Exec(ctx)
	return err
}

var createScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 1 then return 0 end
for i = 2, #ARGV, 2 do redis.call("HSET", KEYS[1], ARGV[i], ARGV[i+1]) end
redis.call("SETRANGE", KEYS[2], tonumber(ARGV[1]), "\0")
redis.call("SETBIT", KEYS[3], 0, 0)
return 1`)

// Delete removes a campaign and everything stored for it.
func (s *Store) Delete(ctx context.Context, c *Campaign) error {
	pipe := s.rdb.Pipeline()
	for _, k := range c.allKeys() {
		pipe.Del(ctx, k)
	}
	pipe.ZRem(ctx, IndexKey, c.ID)
	pipe.SRem(ctx, ActiveKey, c.ID)
	_, err := pipe.Exec(ctx)
	return err
}

func (c *Campaign) allKeys() []string {
	ks := append(keys(c.ID), feederKey(c.ID))
	for n := range chunks(c.Rows) {
		ks = append(ks, c.chunkKey(n))
	}
	return ks
}

// chunkKey is where chunk n of the campaign's rows is stored.
func (c *Campaign) chunkKey(n int) string {
	if c.Chunks != "" {
		return rowsKey(c.Chunks, n)
	}
	return metaKey(c.ID) + ":src:" + strconv.Itoa(n)
}

// rowsKey is where an import tagged tag stores chunk n.
func rowsKey(tag string, n int) string {
	return "resetq:campaign-rows:{" + tag + "}:" + strconv.Itoa(n)
}

// Get reads a campaign; nil when there is none.
func (s *Store) Get(ctx context.Context, id string) (*Campaign, error) {
	m, err := s.rdb.HGetAll(ctx, metaKey(id)).Result()
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	var actions []string
	if m["actions"] != "" {
		actions = strings.Split(m["actions"], ",")
	}
	return &Campaign{
		ID: m["id"], Provider: m["provider"], Actions: actions, Source: m["source"], Digest: m["digest"],
		Status: Status(m["status"]), Notified: m["notified"] == "1", KeyedTaskIDs: m["task_ids"] == "keyed", Chunks: m["chunks"],
		Rows: atoi(m["rows"]), RateN: atoi(m["rate_n"]), RatePer: time.Duration(atoi(m["rate_per_ms"])) * time.Millisecond,
		Window: atoi(m["window"]), CreatedAt: fromMS(m["created_at"]), StartAt: fromMS(m["start_at"]),
		StartedAt: fromMS(m["started_at"]), FinishedAt: fromMS(m["finished_at"]), Cursor: atoi(m["cursor"]),
		Inflight: atoi(m["inflight"]), Succeeded: atoi(m["succeeded"]), Skipped: atoi(m["skipped"]),
		Failed: atoi(m["failed"]), Cancelled: atoi(m["cancelled"]),
		Requester: tasks.Requester{Actor: m["requester"], Address: m["requester_address"]},
		ByReason:  byReason(m),
	}, nil
}

// byReason reads the by-reason counters of a campaign's fields, nil when
// it does not keep them.
func byReason(m map[string]string) map[Tally]int {
	if m["by_reason"] != "counted" {
		return nil
	}
	out := map[Tally]int{}
	for k, v := range m {
		// A counter is "by:<outcome code>:<reason code>", the record's
		// first two bytes (the scripts' tally).
		codes, ok := strings.CutPrefix(k, "by:")
		if !ok {
			continue
		}
		o, r, _ := strings.Cut(codes, ":")
		oc, err1 := strconv.Atoi(o)
		rc, err2 := strconv.Atoi(r)
		if err1 != nil || err2 != nil || oc <= 0 || oc >= len(outcomeCodes) || rc < 0 || rc >= len(reasonCodes) {
			continue
		}
		if n := atoi(v); n != 0 {
			out[Tally{string(outcomeCodes[oc]), reasonCodes[rc]}] += n
		}
	}
	return out
}

// List returns every campaign, newest first.
func (s *Store) List(ctx context.Context) ([]*Campaign, error) {
	ids, err := s.rdb.ZRevRange(ctx, IndexKey, 0, -1).Result()
	if err != nil {
		return nil, err
	}
	var out []*Campaign
	for _, id := range ids {
		c, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if c == nil { // expired
			s.rdb.ZRem(ctx, IndexKey, id)
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// Active lists the campaigns a feeder looks after.
func (s *Store) Active(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, ActiveKey).Result()
	slices.Sort(ids)
	return ids, err
}

// Forget takes a campaign whose keys are gone off the active list.
func (s *Store) Forget(ctx context.Context, id string) error {
	return s.rdb.SRem(ctx, ActiveKey, id).Err()
}

// Retire takes a finished campaign off the active list and lets its keys
// expire after keep.
func (s *Store) Retire(ctx context.Context, c *Campaign, keep time.Duration) error {
	pipe := s.rdb.Pipeline()
	for _, k := range c.allKeys() {
		pipe.Expire(ctx, k, keep)
	}
	pipe.SRem(ctx, ActiveKey, c.ID)
	_, err := pipe.Exec(ctx)
	return err
}

// WriteChunk stores chunk n of the campaign's rows, rows n*ChunkRows
// onwards.
func (s *Store) WriteChunk(ctx context.Context, c *Campaign, n int, rows []Row) error {
	return s.writeRows(ctx, c.chunkKey(n), rows, 0)
}

// writeRows stores a chunk of rows at key, for ttl (0: for good).
func (s *Store) writeRows(ctx context.Context, key string, rows []Row, ttl time.Duration) error {
	b, err := encodeChunk(rows)
	if err != nil {
		return err
	}
	return s.rdb.Set(ctx, key, b, ttl).Err()
}

// persist keeps the campaign's rows for good: an import stores them to
// expire until a campaign adopts them.
func (s *Store) persist(ctx context.Context, c *Campaign) error {
	pipe := s.rdb.Pipeline()
	for n := range chunks(c.Rows) {
		pipe.Persist(ctx, c.chunkKey(n))
	}
	_, err := pipe.Exec(ctx)
	return err
}

// del removes keys.
func (s *Store) del(ctx context.Context, keys []string) error {
	pipe := s.rdb.Pipeline()
	for _, k := range keys {
		pipe.Del(ctx, k)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// Chunk reads chunk n of the campaign's rows.
func (s *Store) Chunk(ctx context.Context, c *Campaign, n int) ([]Row, error) {
	b, err := s.rdb.Get(ctx, c.chunkKey(n)).Bytes()
	if err != nil {
		return nil, fmt.Errorf("reading rows %d… of campaign %s: %w", n*ChunkRows, c.ID, err)
	}
	rows, err := decodeChunk(b)
	if err != nil {
		return nil, fmt.Errorf("reading rows %d… of campaign %s: %w", n*ChunkRows, c.ID, err)
	}
	return rows, nil
}

// SetStatus moves a campaign from one of the statuses in from to to; it
// reports false when the campaign was in another status.
func (s *Store) SetStatus(ctx context.Context, id string, from []Status, to Status) (bool, error) {
	args := []any{string(to), ms(time.Now())}
	for _, f := range from {
		args = append(args, string(f))
	}
	n, err := statusScript.Run(ctx, s.rdb, []string{metaKey(id)}, args...).Int()
	return n == 1, err
}

var statusScript = redis.NewScript(`
local cur = redis.call("HGET", KEYS[1], "status")
for i = 3, #ARGV do
  if cur == ARGV[i] then
    redis.call("HSET", KEYS[1], "status", ARGV[1])
    if ARGV[1] == "running" then redis.call("HSETNX", KEYS[1], "started_at", ARGV[2]) end
    return 1
  end
end
return 0`)

// AdvanceCursor moves the cursor from from to to, unless something moved
// it meanwhile (a withdrawn row moves it back); it reports whether it did.
func (s *Store) AdvanceCursor(ctx context.Context, id string, from, to int) (bool, error) {
	n, err := cursorScript.Run(ctx, s.rdb, []string{metaKey(id)}, from, to).Int()
	return n == 1, err
}

var cursorScript = redis.NewScript(`
if tonumber(redis.call("HGET", KEYS[1], "cursor")) ~= tonumber(ARGV[1]) then return 0 end
redis.call("HSET", KEYS[1], "cursor", ARGV[2])
return 1`)

// Lease takes or renews the feeder lease of a campaign for owner.
func (s *Store) Lease(ctx context.Context, id, owner string, ttl time.Duration) (bool, error) {
	n, err := leaseScript.Run(ctx, s.rdb, []string{feederKey(id)}, owner, ttl.Milliseconds()).Int()
	return n == 1, err
}

var leaseScript = redis.NewScript(`
local cur = redis.call("GET", KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
  return 1
end
return 0`)

// Leased reports whether anyone holds the campaign's lease.
func (s *Store) Leased(ctx context.Context, id string) (bool, error) {
	n, err := s.rdb.Exists(ctx, feederKey(id)).Result()
	return n == 1, err
}

// Release gives the lease up if owner holds it.
func (s *Store) Release(ctx context.Context, id, owner string) error {
	return releaseScript.Run(ctx, s.rdb, []string{feederKey(id)}, owner).Err()
}

var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0`)

// ClaimNotice claims the sending of a finished campaign's event for owner.
// A claim older than stale whose owner never confirmed it can be taken over,
// so a crash between claim and send delays the event instead of losing it.
func (s *Store) ClaimNotice(ctx context.Context, id, owner string, stale time.Duration) (bool, error) {
	n, err := claimScript.Run(ctx, s.rdb, []string{metaKey(id)}, owner, ms(time.Now()), stale.Milliseconds()).Int()
	return n == 1, err
}

var claimScript = redis.NewScript(`
local m = redis.call("HMGET", KEYS[1], "finished_at", "notified", "notice_by", "notice_at")
if not m[1] or m[2] == "1" then return 0 end
if m[3] and m[3] ~= ARGV[1] and tonumber(ARGV[2]) - tonumber(m[4]) < tonumber(ARGV[3]) then return 0 end
redis.call("HSET", KEYS[1], "notice_by", ARGV[1], "notice_at", ARGV[2])
return 1`)

// Noticed records that the finished campaign's event was handed on.
func (s *Store) Noticed(ctx context.Context, id string) error {
	return s.rdb.HSet(ctx, metaKey(id), "notified", 1).Err()
}

// Record is one row's outcome.
type Record struct {
	Outcome  tasks.Outcome // "" while the row has none
	Reason   string
	Attempts int
	// Finished is when the outcome was recorded (to the second).
	Finished time.Time
}

var outcomeCodes = []tasks.Outcome{"", tasks.Succeeded, tasks.Skipped, tasks.Failed, OutcomeCancelled}

// reasonCodes are the reasons a record can hold; the index is the byte
// stored. Append only: stored records refer to these positions.
var reasonCodes = []string{"", tasks.ReasonUserNotFound, tasks.ReasonAmbiguousUser, tasks.ReasonUserDisabled,
	tasks.ReasonNoEmail, tasks.ReasonRecentlyReset, tasks.ReasonInvalidAction, tasks.ReasonInvalidRequest,
	tasks.ReasonInvalidPayload, tasks.ReasonUnknownProvider, tasks.ReasonRetriesExhausted, tasks.ReasonDuplicateRow,
	tasks.ReasonInvalidRow, tasks.ReasonCancelled, tasks.ReasonUnconfirmed, tasks.ReasonRecipientRefused}

func encodeRecord(created time.Time, r Record) []byte {
	b := make([]byte, RecordSize)
	b[0] = byte(slices.Index(outcomeCodes, r.Outcome))
	b[1] = byte(max(slices.Index(reasonCodes, r.Reason), 0))
	b[2] = byte(min(max(r.Attempts, 0), 255))
	secs := max(r.Finished.Sub(created)/time.Second, 0)
	binary.BigEndian.PutUint32(b[4:], uint32(secs))
	return b
}

func decodeRecord(created time.Time, b []byte) Record {
	if len(b) < RecordSize || b[0] == 0 || int(b[0]) >= len(outcomeCodes) {
		return Record{}
	}
	r := Record{Outcome: outcomeCodes[b[0]], Attempts: int(b[2]),
		Finished: created.Add(time.Duration(binary.BigEndian.Uint32(b[4:])) * time.Second)}
	if int(b[1]) < len(reasonCodes) {
		r.Reason = reasonCodes[b[1]]
	}
	return r
}

// RecordOutcome stores a row's outcome and counts it, in one step with the
// check for completion: completed is true for the one call that accounted
// for the campaign's last row.
func (s *Store) RecordOutcome(ctx context.Context, c *Campaign, row int, r Record) (completed bool, err error) {
	if row < 0 || row >= c.Rows {
		return false, fmt.Errorf("campaign %s has no row %d", c.ID, row)
	}
	n, err := recordScript.Run(ctx, s.rdb, keys(c.ID), row, encodeRecord(c.CreatedAt, r), ms(time.Now())).Int()
	return n == 1, err
}

// counting is what every script that gives rows outcomes starts with:
// the names of the counters by outcome code (Lua tables start at 1), and
// tally, which moves the by-reason counter of a record (its outcome and
// reason codes) by d.
const counting = `local names = {"succeeded", "skipped", "failed", "cancelled"}
local function tally(rec, d)
  local oc, rc = string.byte(rec, 1, 2)
  if oc and oc > 0 then redis.call("HINCRBY", KEYS[1], "by:" .. oc .. ":" .. (rc or 0), d) end
end
`

// checkDone is the completion check every script that ends rows runs; the
// script sets the local now first.
const checkDone = `
local m = redis.call("HMGET", KEYS[1], "rows", "succeeded", "skipped", "failed", "cancelled")
local done = 0
for i = 2, 5 do done = done + tonumber(m[i] or "0") end
if done >= tonumber(m[1]) and redis.call("HSETNX", KEYS[1], "finished_at", now) == 1 then
  if redis.call("HGET", KEYS[1], "status") ~= "cancelled" then redis.call("HSET", KEYS[1], "status", "completed") end
  return 1
end
return 0`

var recordScript = redis.NewScript(counting + `
local now = ARGV[3]
local row = tonumber(ARGV[1])
local off = row * 8
local prev = redis.call("GETRANGE", KEYS[2], off, off + 1)
local pc = 0
if prev ~= "" then pc = string.byte(prev) end
local nc = string.byte(ARGV[2], 1)
redis.call("SETRANGE", KEYS[2], off, ARGV[2])
if pc == 0 then
  if redis.call("GETBIT", KEYS[3], row) == 1 then redis.call("HINCRBY", KEYS[1], "inflight", -1) end
else
  redis.call("HINCRBY", KEYS[1], names[pc], -1)
  tally(prev, -1)
end
redis.call("HINCRBY", KEYS[1], names[nc], 1)
tally(ARGV[2], 1)
` + checkDone)

// Premark gives rows that will never be fed (duplicates, invalid rows)
// their outcome before the campaign starts. Rows that have one, or are
// queued, keep theirs. It reports whether that completed the campaign.
func (s *Store) Premark(ctx context.Context, c *Campaign, rows []int, r Record) (completed bool, err error) {
	rec := encodeRecord(c.CreatedAt, r)
	for len(rows) > 0 {
		batch := rows[:min(len(rows), 5000)]
		rows = rows[len(batch):]
		args := []any{rec, ms(time.Now())}
		for _, row := range batch {
			if row < 0 || row >= c.Rows {
				return false, fmt.Errorf("campaign %s has no row %d", c.ID, row)
			}
			args = append(args, row)
		}
		n, err := premarkScript.Run(ctx, s.rdb, keys(c.ID), args...).Int()
		if err != nil {
			return false, err
		}
		completed = completed || n == 1
	}
	return completed, nil
}

var premarkScript = redis.NewScript(counting + `
local now = ARGV[2]
local nc = string.byte(ARGV[1], 1)
local n = 0
for i = 3, #ARGV do
  local off = tonumber(ARGV[i]) * 8
  local b = redis.call("GETRANGE", KEYS[2], off, off)
  if (b == "" or string.byte(b) == 0) and redis.call("GETBIT", KEYS[3], tonumber(ARGV[i])) == 0 then
    redis.call("SETRANGE", KEYS[2], off, ARGV[1])
    n = n + 1
  end
end
if n > 0 then
  redis.call("HINCRBY", KEYS[1], names[nc], n)
  tally(ARGV[1], n)
end
` + checkDone)

// Outcome reads one row's outcome.
func (s *Store) Outcome(ctx context.Context, c *Campaign, row int) (Record, error) {
	b, err := s.rdb.GetRange(ctx, outKey(c.ID), recordOffset(row), recordOffset(row+1)-1).Bytes()
	if err != nil {
		return Record{}, err
	}
	return decodeRecord(c.CreatedAt, b), nil
}

// Outcomes reads the outcomes of n rows from row from.
func (s *Store) Outcomes(ctx context.Context, c *Campaign, from, n int) ([]Record, error) {
	a, z := recordRange(from, n)
	b, err := s.rdb.GetRange(ctx, outKey(c.ID), a, z).Bytes()
	if err != nil {
		return nil, err
	}
	out := make([]Record, n)
	for i := range out {
		if (i+1)*RecordSize <= len(b) {
			out[i] = decodeRecord(c.CreatedAt, b[i*RecordSize:(i+1)*RecordSize])
		}
	}
	return out, nil
}

// Fed reports which of n rows from row from are on the queue.
func (s *Store) Fed(ctx context.Context, c *Campaign, from, n int) ([]bool, error) {
	b, err := s.rdb.GetRange(ctx, fedKey(c.ID), int64(from/8), int64((from+n-1)/8)).Bytes()
	if err != nil {
		return nil, err
	}
	out := make([]bool, n)
	for i := range out {
		bit := from + i
		byteIdx := bit/8 - from/8
		if byteIdx < len(b) {
			out[i] = b[byteIdx]&(0x80>>(bit%8)) != 0
		}
	}
	return out, nil
}

// MarkFed records that rows were put on the queue. Rows that have an
// outcome or are already marked are left alone. It returns how many it
// marked.
func (s *Store) MarkFed(ctx context.Context, c *Campaign, rows []int) (int, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	args := make([]any, len(rows))
	for i, r := range rows {
		args[i] = r
	}
	return markFedScript.Run(ctx, s.rdb, keys(c.ID), args...).Int()
}

var markFedScript = redis.NewScript(`
local n = 0
for i = 1, #ARGV do
  local r = tonumber(ARGV[i])
  local b = redis.call("GETRANGE", KEYS[2], r * 8, r * 8)
  if (b == "" or string.byte(b) == 0) and redis.call("SETBIT", KEYS[3], r, 1) == 0 then n = n + 1 end
end
if n > 0 then redis.call("HINCRBY", KEYS[1], "inflight", n) end
return n`)

// Withdraw takes a fed row that has no outcome off the books after its
// task was deleted from the queue: back to waiting, or cancelled. It
// reports whether the campaign completed with it.
func (s *Store) Withdraw(ctx context.Context, c *Campaign, row int, cancel bool) (completed bool, err error) {
	rec := ""
	if cancel {
		rec = string(encodeRecord(c.CreatedAt, Record{Outcome: OutcomeCancelled, Reason: tasks.ReasonCancelled, Finished: time.Now()}))
	}
	n, err := withdrawScript.Run(ctx, s.rdb, keys(c.ID), row, rec, ms(time.Now())).Int()
	return n == 1, err
}

var withdrawScript = redis.NewScript(counting + `
local now = ARGV[3]
local row = tonumber(ARGV[1])
local b = redis.call("GETRANGE", KEYS[2], row * 8, row * 8)
if (b == "" or string.byte(b) == 0) and redis.call("GETBIT", KEYS[3], row) == 1 then
  redis.call("SETBIT", KEYS[3], row, 0)
  redis.call("HINCRBY", KEYS[1], "inflight", -1)
  if ARGV[2] ~= "" then
    redis.call("SETRANGE", KEYS[2], row * 8, ARGV[2])
    redis.call("HINCRBY", KEYS[1], "cancelled", 1)
    tally(ARGV[2], 1)
  elseif tonumber(redis.call("HGET", KEYS[1], "cursor")) > row then
    redis.call("HSET", KEYS[1], "cursor", row)
  end
end
` + checkDone)

// CancelWaiting marks every row that is neither fed nor finished as
// cancelled, a batch at a time so Redis is never blocked for long. It
// reports whether the campaign completed.
func (s *Store) CancelWaiting(ctx context.Context, c *Campaign) (completed bool, err error) {
	rec := string(encodeRecord(c.CreatedAt, Record{Outcome: OutcomeCancelled, Reason: tasks.ReasonCancelled, Finished: time.Now()}))
	for from := 0; from < c.Rows; from += 10000 {
		n, err := cancelScript.Run(ctx, s.rdb, keys(c.ID), from, min(from+10000, c.Rows), ms(time.Now()), rec).Int()
		if err != nil {
			return completed, err
		}
		completed = completed || n == 1
	}
	return completed, nil
}

var cancelScript = redis.NewScript(counting + `
local now = ARGV[3]
local n = 0
for r = tonumber(ARGV[1]), tonumber(ARGV[2]) - 1 do
  local b = redis.call("GETRANGE", KEYS[2], r * 8, r * 8)
  if (b == "" or string.byte(b) == 0) and redis.call("GETBIT", KEYS[3], r) == 0 then
    redis.call("SETRANGE", KEYS[2], r * 8, ARGV[4])
    n = n + 1
  end
end
if n > 0 then
  redis.call("HINCRBY", KEYS[1], "cancelled", n)
  tally(ARGV[4], n)
end
` + checkDone)
