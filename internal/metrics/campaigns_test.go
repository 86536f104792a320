package metrics_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/metrics"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/tasks"
)

func TestCampaignTasksAreReportedUntilTheCampaignFinishes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	s := campaigns.NewStore(rdb)
	c := &campaigns.Campaign{ID: "breach", Provider: "corp", Status: campaigns.Running, Rows: 4, Window: 10, CreatedAt: time.Now()}
	require.NoError(t, s.Create(ctx, c))
	importing := &campaigns.Campaign{ID: "half", Provider: "corp", Status: campaigns.Importing, Rows: 4, CreatedAt: time.Now()}
	require.NoError(t, s.Create(ctx, importing))
	_, err := s.MarkFed(ctx, c, []int{0, 1})
	require.NoError(t, err)
	_, err = s.RecordOutcome(ctx, c, 0, campaigns.Record{Outcome: tasks.Skipped, Reason: tasks.ReasonUserNotFound, Finished: time.Now()})
	require.NoError(t, err)

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewCampaignCollector(rdb))
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
	want := `
# HELP resetq_campaign_tasks Rows of a campaign not yet finished, by state: waiting (not yet queued), queued, or the outcome.
# TYPE resetq_campaign_tasks gauge
resetq_campaign_tasks{campaign="breach",state="cancelled"} 0
resetq_campaign_tasks{campaign="breach",state="failed"} 0
resetq_campaign_tasks{campaign="breach",state="queued"} 1
resetq_campaign_tasks{campaign="breach",state="skipped"} 1
resetq_campaign_tasks{campaign="breach",state="succeeded"} 0
resetq_campaign_tasks{campaign="breach",state="waiting"} 2
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "resetq_campaign_tasks"),
		"an importing campaign is not reported yet")

	_, err = s.CancelWaiting(ctx, c)
	require.NoError(t, err)
	_, err = s.RecordOutcome(ctx, c, 1, campaigns.Record{Outcome: tasks.Succeeded, Finished: time.Now()})
	require.NoError(t, err)
	n, err := testutil.GatherAndCount(reg, "resetq_campaign_tasks")
	require.NoError(t, err)
	require.Zero(t, n, "a finished campaign is no longer reported")
}
