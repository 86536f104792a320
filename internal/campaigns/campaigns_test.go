package campaigns

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/tasks"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return v
}

func newCampaign(t *testing.T, s *Store, id string, rows int) *Campaign {
	t.Helper()
	ctx := context.Background()
	c := &Campaign{ID: id, Provider: "corp", Status: Running, Rows: rows, Window: 10,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	require.NoError(t, s.Create(ctx, c))
	for n := range chunks(rows) {
		var rs []Row
		for i := n * ChunkRows; i < min(rows, (n+1)*ChunkRows); i++ {
			rs = append(rs, Row{Line: i + 2, User: tasks.User{Email: fmt.Sprintf("u%d@example.com", i)}})
		}
		require.NoError(t, s.WriteChunk(ctx, c, n, rs))
	}
	return c
}

func get(t *testing.T, s *Store, id string) *Campaign {
	t.Helper()
	c, err := s.Get(context.Background(), id)
	require.NoError(t, err)
	require.NotNil(t, c)
	return c
}

func rows(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestCampaignsAreStoredAndListed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewStore(redistest.Start(t).Client(t))
	c := newCampaign(t, s, "breach-2026-11", 2500)
	c.Actions = []string{"UPDATE_PASSWORD", "VERIFY_EMAIL"}
	require.ErrorIs(t, s.Create(ctx, c), ErrExists)
	require.ErrorContains(t, s.Create(ctx, &Campaign{ID: "Breach 2026"}), "campaign name:")

	got := get(t, s, c.ID)
	require.Equal(t, Running, got.Status)
	require.Equal(t, 2500, got.Rows)
	require.Equal(t, c.CreatedAt, got.CreatedAt)
	require.Equal(t, 2500, got.Waiting())

	rs, err := s.Chunk(ctx, c, 2)
	require.NoError(t, err)
	require.Len(t, rs, 500)
	require.Equal(t, "u2000@example.com", rs[0].User.Email)
	require.Equal(t, 2002, rs[0].Line)

	newCampaign(t, s, "later", 1)
	list, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	active, err := s.Active(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"breach-2026-11", "later"}, active)

	require.NoError(t, s.Delete(ctx, get(t, s, "later")))
	missing, err := s.Get(ctx, "later")
	require.NoError(t, err)
	require.Nil(t, missing)
	n, err := s.rdb.Exists(ctx, (&Campaign{ID: "later"}).chunkKey(0), outKey("later")).Result()
	require.NoError(t, err)
	require.Zero(t, n, "every key is gone")
}

func TestRowsMoveThroughTheirStatesWithExactCounters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewStore(redistest.Start(t).Client(t))
	c := newCampaign(t, s, "c", 20)

	n, err := s.MarkFed(ctx, c, rows(0, 10))
	require.NoError(t, err)
	require.Equal(t, 10, n)
	n, err = s.MarkFed(ctx, c, rows(5, 12))
	require.NoError(t, err)
	require.Equal(t, 2, n, "rows already fed are not counted twice")
	require.Equal(t, 12, get(t, s, "c").Inflight)

	fed, err := s.Fed(ctx, c, 9, 5)
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, true, false, false}, fed)

	done, err := s.RecordOutcome(ctx, c, 0, Record{Outcome: tasks.Succeeded, Attempts: 1, Finished: time.Now()})
	require.NoError(t, err)
	require.False(t, done)
	_, err = s.RecordOutcome(ctx, c, 1, Record{Outcome: tasks.Skipped, Reason: tasks.ReasonUserNotFound, Attempts: 1, Finished: time.Now()})
	require.NoError(t, err)
	// A row recorded twice moves from one counter to the other.
	_, err = s.RecordOutcome(ctx, c, 1, Record{Outcome: tasks.Failed, Reason: tasks.ReasonRetriesExhausted, Attempts: 11, Finished: time.Now()})
	require.NoError(t, err)
	_, err = s.RecordOutcome(ctx, c, 20, Record{Outcome: tasks.Succeeded})
	require.ErrorContains(t, err, "has no row 20")

	got := get(t, s, "c")
	require.Equal(t, 10, got.Inflight)
	require.Equal(t, 1, got.Succeeded)
	require.Equal(t, 0, got.Skipped)
	require.Equal(t, 1, got.Failed)
	require.Equal(t, 8, got.Waiting())

	rec, err := s.Outcome(ctx, c, 1)
	require.NoError(t, err)
	require.Equal(t, tasks.Failed, rec.Outcome)
	require.Equal(t, tasks.ReasonRetriesExhausted, rec.Reason)
	require.Equal(t, 11, rec.Attempts)

	// Rows with an outcome are never fed again.
	n, err = s.MarkFed(ctx, c, []int{0, 1})
	require.NoError(t, err)
	require.Zero(t, n)

	// The cursor advances only from where it is.
	ok, err := s.AdvanceCursor(ctx, "c", 0, 12)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = s.AdvanceCursor(ctx, "c", 0, 15)
	require.NoError(t, err)
	require.False(t, ok, "someone else moved it")

	// Withdrawing a queued row puts it back to waiting and the cursor
	// before it; withdrawing a finished one changes nothing.
	_, err = s.Withdraw(ctx, c, 7, false)
	require.NoError(t, err)
	_, err = s.Withdraw(ctx, c, 0, false)
	require.NoError(t, err)
	got = get(t, s, "c")
	require.Equal(t, 9, got.Inflight)
	require.Equal(t, 7, got.Cursor)
	require.Equal(t, 1, got.Succeeded)

	// Cancel: queued rows are withdrawn one by one (their tasks deleted),
	// the rest at once.
	_, err = s.Withdraw(ctx, c, 8, true)
	require.NoError(t, err)
	done, err = s.CancelWaiting(ctx, c)
	require.NoError(t, err)
	require.False(t, done, "8 rows are still queued")
	got = get(t, s, "c")
	require.Equal(t, 8, got.Inflight)
	require.Equal(t, 20-2-8, got.Cancelled)
	for _, r := range []int{2, 3, 4, 5, 6, 9, 10, 11} {
		done, err = s.RecordOutcome(ctx, c, r, Record{Outcome: tasks.Succeeded, Attempts: 1, Finished: time.Now()})
		require.NoError(t, err)
	}
	require.True(t, done, "the last row completes the campaign")
	got = get(t, s, "c")
	require.Equal(t, Completed, got.Status)
	require.True(t, got.Done())
	require.Equal(t, map[string]int{"waiting": 0, "queued": 0, "succeeded": 9, "skipped": 0, "failed": 1, "cancelled": 10}, got.Totals())
	require.Equal(t, map[Tally]int{{State: "succeeded"}: 9, {State: "failed", Reason: tasks.ReasonRetriesExhausted}: 1,
		{State: "cancelled", Reason: tasks.ReasonCancelled}: 10}, got.ByReason, "the row recorded twice is counted once, by its last reason")
}

func TestCompletionIsReportedOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewStore(redistest.Start(t).Client(t))
	const n = 400
	c := newCampaign(t, s, "race", n)
	_, err := s.MarkFed(ctx, c, rows(0, n))
	require.NoError(t, err)

	var completions atomic.Int32
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for r := w; r < n; r += 8 {
				done, err := s.RecordOutcome(ctx, c, r, Record{Outcome: tasks.Succeeded, Attempts: 1, Finished: time.Now()})
				if err != nil {
					t.Error(err)
					return
				}
				if done {
					completions.Add(1)
				}
				// Redeliveries record the same outcome again.
				if r%50 == 0 {
					if done, _ := s.RecordOutcome(ctx, c, r, Record{Outcome: tasks.Succeeded, Attempts: 1, Finished: time.Now()}); done {
						completions.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 1, completions.Load())
	got := get(t, s, "race")
	require.Equal(t, n, got.Succeeded)
	require.Zero(t, got.Inflight)
}

func TestPremarkedRowsAreNeverFed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewStore(redistest.Start(t).Client(t))
	c := newCampaign(t, s, "dups", 12000)
	dups := rows(0, 11000)
	done, err := s.Premark(ctx, c, dups, Record{Outcome: tasks.Skipped, Reason: tasks.ReasonDuplicateRow, Finished: time.Now()})
	require.NoError(t, err)
	require.False(t, done)
	n, err := s.MarkFed(ctx, c, []int{5, 11000})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	got := get(t, s, "dups")
	require.Equal(t, 11000, got.Skipped)

	done, err = s.Premark(ctx, c, rows(11000, 12000), Record{Outcome: tasks.Failed, Reason: tasks.ReasonInvalidRow, Finished: time.Now()})
	require.NoError(t, err)
	require.False(t, done, "row 11000 is queued, so it keeps its place")
	recs, err := s.Outcomes(ctx, c, 10999, 3)
	require.NoError(t, err)
	require.Equal(t, []tasks.Outcome{tasks.Skipped, "", tasks.Failed}, []tasks.Outcome{recs[0].Outcome, recs[1].Outcome, recs[2].Outcome})
	require.Equal(t, tasks.ReasonInvalidRow, recs[2].Reason)
}

func TestAnImportOfOnlyBadRowsCompletesAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewStore(redistest.Start(t).Client(t))
	c := newCampaign(t, s, "nothing", 3)
	done, err := s.Premark(ctx, c, rows(0, 3), Record{Outcome: tasks.Failed, Reason: tasks.ReasonInvalidRow, Finished: time.Now()})
	require.NoError(t, err)
	require.True(t, done)
	require.Equal(t, Completed, get(t, s, "nothing").Status)
}

func TestLeaseAndNoticeClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	s := NewStore(rdb)
	c := newCampaign(t, s, "c", 1)
	// got is a lease's or a claim's answer, which must not be an error.
	got := func(ok bool, err error) bool {
		t.Helper()
		require.NoError(t, err)
		return ok
	}

	require.True(t, got(s.Lease(ctx, "c", "a", time.Minute)))
	require.False(t, got(s.Lease(ctx, "c", "b", time.Minute)), "a holds it")
	require.True(t, got(s.Lease(ctx, "c", "a", time.Minute)), "renewed")
	require.NoError(t, s.Release(ctx, "c", "b"))
	require.NoError(t, s.Release(ctx, "c", "a"))
	require.True(t, got(s.Lease(ctx, "c", "b", time.Minute)), "released")

	require.False(t, got(s.ClaimNotice(ctx, "c", "a", time.Minute)), "not finished yet")
	_, err := s.RecordOutcome(ctx, c, 0, Record{Outcome: tasks.Succeeded, Finished: time.Now()})
	require.NoError(t, err)
	require.True(t, got(s.ClaimNotice(ctx, "c", "a", time.Minute)))
	require.False(t, got(s.ClaimNotice(ctx, "c", "b", time.Minute)), "a's claim is fresh")
	// a's claim goes stale without a confirmation: b takes it over.
	require.NoError(t, rdb.HSet(ctx, metaKey("c"), "notice_at", time.Now().Add(-2*time.Minute).UnixMilli()).Err())
	require.True(t, got(s.ClaimNotice(ctx, "c", "b", time.Minute)))
	require.NoError(t, s.Noticed(ctx, "c"))
	require.False(t, got(s.ClaimNotice(ctx, "c", "b", 0)), "sent")
	require.True(t, get(t, s, "c").Notified)

	require.NoError(t, s.Retire(ctx, get(t, s, "c"), time.Hour))
	active, err := s.Active(ctx)
	require.NoError(t, err)
	require.Empty(t, active)
	for _, k := range []string{metaKey("c"), outKey("c"), (&Campaign{ID: "c"}).chunkKey(0)} {
		ttl, err := rdb.TTL(ctx, k).Result()
		require.NoError(t, err)
		require.InDelta(t, time.Hour.Seconds(), ttl.Seconds(), 5, k)
	}
}
