package campaigns_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/campaigns/campaignstest"
	"github.com/resetq/resetq/tasks"
)

// A campaign's rows by state and reason come from the counters it keeps
// as rows finish, and agree with its rows read one by one; a campaign an
// older build created, which keeps no such counters, is read row by row.
func TestACampaignsReasonsAreCountedAsItsRowsFinish(t *testing.T) {
	t.Parallel()
	m, rdb := newManager(t)
	ctx := context.Background()
	src := campaignstest.Users(30, "reasons.example") + "USER3@REASONS.example,T-dup\nnot-an-email,T-bad\nUSER4@REASONS.example,T-dup\n"
	res, err := m.Start(ctx, readOnce(t, src), campaigns.Request{Name: "reasons", Provider: "idle", Source: "u.csv", SkipInvalid: true})
	require.NoError(t, err)
	c := res.Campaign
	require.Equal(t, 33, c.Rows)

	s := campaigns.NewStore(rdb)
	_, err = s.MarkFed(ctx, c, []int{0, 1, 2, 3, 4, 5, 6, 7})
	require.NoError(t, err)
	now := time.Now()
	for row, rec := range map[int]campaigns.Record{
		0:  {Outcome: tasks.Succeeded},
		1:  {Outcome: tasks.Succeeded},
		2:  {Outcome: tasks.Skipped, Reason: tasks.ReasonUserNotFound},
		3:  {Outcome: tasks.Skipped, Reason: tasks.ReasonUserDisabled},
		4:  {Outcome: tasks.Failed, Reason: tasks.ReasonRetriesExhausted},
		10: {Outcome: tasks.Failed, Reason: tasks.ReasonRetriesExhausted}, // never fed
	} {
		rec.Attempts, rec.Finished = 1, now
		_, err := s.RecordOutcome(ctx, c, row, rec)
		require.NoError(t, err)
	}
	// A row recorded again moves from its first count to its second.
	_, err = s.RecordOutcome(ctx, c, 3, campaigns.Record{Outcome: tasks.Succeeded, Attempts: 2, Finished: now})
	require.NoError(t, err)
	_, err = s.Withdraw(ctx, c, 5, true)
	require.NoError(t, err)

	want := map[campaigns.Tally]int{
		{State: "succeeded"}: 3,
		{State: "skipped", Reason: tasks.ReasonUserNotFound}:    1,
		{State: "skipped", Reason: tasks.ReasonDuplicateRow}:    2,
		{State: "failed", Reason: tasks.ReasonRetriesExhausted}: 2,
		{State: "failed", Reason: tasks.ReasonInvalidRow}:       1,
		{State: "cancelled", Reason: tasks.ReasonCancelled}:     1,
		{State: "queued"}:  2,
		{State: "waiting"}: 33 - 3 - 1 - 2 - 2 - 1 - 1 - 2,
	}
	require.Equal(t, want, scanReasons(t, m, "reasons"), "the rows themselves")
	got, err := m.Reasons(ctx, "reasons")
	require.NoError(t, err)
	require.Equal(t, want, got, "from the counters")
	require.Equal(t, 3, campaign(t, m, "reasons").ByReason[campaigns.Tally{State: "succeeded"}])

	// Cancelling the rest counts them too.
	_, err = m.Cancel(ctx, "reasons")
	require.NoError(t, err)
	got, err = m.Reasons(ctx, "reasons")
	require.NoError(t, err)
	require.Equal(t, scanReasons(t, m, "reasons"), got)
	require.Equal(t, want[campaigns.Tally{State: "waiting"}]+want[campaigns.Tally{State: "queued"}]+1,
		got[campaigns.Tally{State: "cancelled", Reason: tasks.ReasonCancelled}],
		"the waiting rows, the queued ones (withdrawn: their tasks are not in the queue) and the one cancelled before")
	require.Zero(t, got[campaigns.Tally{State: "waiting"}]+got[campaigns.Tally{State: "queued"}])

	// A campaign an older build created has no counters: its rows are read.
	require.NoError(t, rdb.HDel(ctx, "resetq:campaign:{reasons}", "by_reason").Err())
	require.Nil(t, campaign(t, m, "reasons").ByReason)
	got, err = m.Reasons(ctx, "reasons")
	require.NoError(t, err)
	require.Equal(t, scanReasons(t, m, "reasons"), got)

	_, err = m.Reasons(ctx, "nobody")
	require.ErrorIs(t, err, campaigns.ErrNotFound)
}

// scanReasons counts a campaign's report rows by state and reason.
func scanReasons(t *testing.T, m *campaigns.Manager, name string) map[campaigns.Tally]int {
	t.Helper()
	counts := map[campaigns.Tally]int{}
	require.NoError(t, m.Report(context.Background(), name, func(r campaigns.ReportRow) error {
		counts[campaigns.Tally{State: r.State, Reason: r.Reason}]++
		return nil
	}))
	return counts
}
