package recording_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/outcomes"
	"github.com/resetq/resetq/internal/recording"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/tasks"
)

func result(id string, o tasks.Outcome, reason string) tasks.Result {
	return tasks.Result{TaskID: id, Provider: "corp", Outcome: o, Reason: reason, Attempts: 2,
		FinishedAt: time.Now().UTC().Truncate(time.Second)}
}

func TestAStandaloneTaskRunsAgainUnlessItSucceeded(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	store := outcomes.New(rdb, time.Hour)
	rec := recording.ForTask(store, "t1")

	prev, run, err := rec.Start(ctx)
	require.NoError(t, err)
	require.True(t, run)
	require.Nil(t, prev)

	require.NoError(t, rec.Record(ctx, result("t1", tasks.Failed, tasks.ReasonRetriesExhausted)))
	_, run, err = rec.Start(ctx)
	require.NoError(t, err)
	require.True(t, run, "a failed task enqueued again runs again")

	ok := result("t1", tasks.Succeeded, "")
	require.NoError(t, rec.Record(ctx, ok))
	prev, run, err = rec.Start(ctx)
	require.NoError(t, err)
	require.False(t, run, "a success is not sent again")
	require.Equal(t, ok.Outcome, prev.Outcome)
	got, err := store.Get(ctx, "t1")
	require.NoError(t, err)
	require.Equal(t, prev, got, "kept in the task's own record")
}

// campaign creates a running campaign of three fed rows.
func campaign(t *testing.T, store *campaigns.Store, id string) *campaigns.Campaign {
	t.Helper()
	ctx := context.Background()
	c := &campaigns.Campaign{ID: id, Provider: "corp", Status: campaigns.Running, Rows: 3, CreatedAt: time.Now()}
	require.NoError(t, store.Create(ctx, c))
	n, err := store.MarkFed(ctx, c, []int{0, 1, 2})
	require.NoError(t, err)
	require.Equal(t, 3, n)
	c, err = store.Get(ctx, id)
	require.NoError(t, err)
	return c
}

func TestACampaignRowEndsOnce(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	store := campaigns.NewStore(rdb)
	c := campaign(t, store, "spring")
	rec := recording.ForCampaignRow(store, c, 1, "t1")

	_, run, err := rec.Start(ctx)
	require.NoError(t, err)
	require.True(t, run)
	require.NoError(t, rec.Record(ctx, result("t1", tasks.Skipped, tasks.ReasonUserNotFound)))

	prev, run, err := rec.Start(ctx)
	require.NoError(t, err)
	require.False(t, run, "a row with an outcome does not run again, whatever the outcome")
	require.Equal(t, tasks.Skipped, prev.Outcome)
	require.Equal(t, tasks.ReasonUserNotFound, prev.Reason)
	require.Equal(t, "spring", prev.Campaign)
	require.Equal(t, "t1", prev.TaskID)

	c, err = store.Get(ctx, "spring")
	require.NoError(t, err)
	require.Equal(t, 1, c.Skipped, "counted in the campaign")
	require.Equal(t, 2, c.Inflight)
	o, err := outcomes.New(rdb, time.Hour).Get(ctx, "t1")
	require.NoError(t, err)
	require.Nil(t, o, "no standalone record")
}

func TestAStoppedCampaignsRowDoesNotRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status campaigns.Status
		want   tasks.Outcome
	}{{campaigns.Paused, ""}, {campaigns.Cancelled, campaigns.OutcomeCancelled}} {
		t.Run(string(tc.status), func(t *testing.T) {
			t.Parallel()
			rdb := redistest.Start(t).Client(t)
			ctx := context.Background()
			store := campaigns.NewStore(rdb)
			c := campaign(t, store, "spring")
			c.Status = tc.status // as Get reads it after a pause or cancel

			prev, run, err := recording.ForCampaignRow(store, c, 0, "t0").Start(ctx)
			require.NoError(t, err)
			require.False(t, run)
			require.Nil(t, prev)
			got, err := store.Outcome(ctx, c, 0)
			require.NoError(t, err)
			require.Equal(t, tc.want, got.Outcome)
			c, err = store.Get(ctx, "spring")
			require.NoError(t, err)
			require.Equal(t, 2, c.Inflight, "the row is withdrawn")
		})
	}
}

// flaky fails its first n writes.
type flaky struct {
	n, calls int
}

func (f *flaky) Start(context.Context) (*tasks.Result, bool, error) { return nil, true, nil }
func (f *flaky) Record(context.Context, tasks.Result) error {
	f.calls++
	if f.calls <= f.n {
		return errors.New("READONLY You can't write against a read only replica")
	}
	return nil
}

func TestAPersistentRecorderRetriesAWriteForAWhile(t *testing.T) {
	t.Parallel()
	f := &flaky{n: 2}
	require.NoError(t, recording.Persistent(f, 5*time.Second).Record(context.Background(), result("t1", tasks.Succeeded, "")))
	require.Equal(t, 3, f.calls)

	never := &flaky{n: 1 << 30}
	err := recording.Persistent(never, 200*time.Millisecond).Record(context.Background(), result("t1", tasks.Succeeded, ""))
	require.Error(t, err, "it gives up in the end")
	require.Greater(t, never.calls, 1)
}

func TestBooksOpenTheRecorderATaskBelongsTo(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	store := campaigns.NewStore(rdb)
	campaign(t, store, "spring")
	books := recording.NewBooks(outcomes.New(rdb, time.Hour), store, time.Second)
	outcomeOf := func(row int) tasks.Outcome {
		c, err := store.Get(ctx, "spring")
		require.NoError(t, err)
		rec, err := store.Outcome(ctx, c, row)
		require.NoError(t, err)
		return rec.Outcome
	}

	rec, c, err := books.Open(ctx, "t1", &tasks.Payload{Provider: "corp"}, nil)
	require.NoError(t, err)
	require.Nil(t, c, "a standalone task has no campaign")
	require.NoError(t, rec.Record(ctx, result("t1", tasks.Succeeded, "")))
	got, err := outcomes.New(rdb, time.Hour).Get(ctx, "t1")
	require.NoError(t, err)
	require.NotNil(t, got, "kept in its own record")

	rec, c, err = books.Open(ctx, "t2", &tasks.Payload{Provider: "corp", Campaign: "spring", CampaignRow: 2}, nil)
	require.NoError(t, err)
	require.Equal(t, "spring", c.ID)
	require.NoError(t, rec.Record(ctx, result("t2", tasks.Succeeded, "")))
	require.Equal(t, tasks.Succeeded, outcomeOf(2), "the payload's row")

	rec, _, err = books.Open(ctx, "t0", &tasks.Payload{Provider: "corp", Campaign: "spring"},
		map[string]string{tasks.CampaignRowHeader: "1"})
	require.NoError(t, err)
	require.NoError(t, rec.Record(ctx, result("t0", tasks.Skipped, tasks.ReasonUserNotFound)))
	require.Equal(t, tasks.Skipped, outcomeOf(1), "an older build's row header")

	_, _, err = books.Open(ctx, "t9", &tasks.Payload{Provider: "corp", Campaign: "spring", CampaignRow: 3}, nil)
	require.ErrorContains(t, err, "row 3 is no row of campaign spring")
	_, _, err = books.Open(ctx, "t9", &tasks.Payload{Provider: "corp", Campaign: "spring"},
		map[string]string{tasks.CampaignRowHeader: "x"})
	require.ErrorContains(t, err, "is not a row number")

	rec, c, err = books.Open(ctx, "t9", &tasks.Payload{Provider: "corp", Campaign: "gone"}, nil)
	require.NoError(t, err)
	require.Nil(t, rec, "the campaign no longer exists")
	require.Nil(t, c)
}
