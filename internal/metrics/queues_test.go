package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/metrics"
	"github.com/resetq/resetq/internal/redistest"
)

// TestQueueCountsMatchAsynqsInspector pins the collector to Asynq's key
// layout: if an upgrade moves a key, the counts stop matching.
func TestQueueCountsMatchAsynqsInspector(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	c := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	q := "resetq-corp"
	first := time.Now()
	for i := range 5 {
		_, err := c.Enqueue(asynq.NewTask("t", []byte{byte(i)}), asynq.Queue(q))
		require.NoError(t, err)
	}
	for range 2 {
		_, err := c.Enqueue(asynq.NewTask("t", nil), asynq.Queue(q), asynq.ProcessIn(time.Hour))
		require.NoError(t, err)
	}
	info, err := c.Enqueue(asynq.NewTask("t", nil), asynq.Queue(q))
	require.NoError(t, err)
	require.NoError(t, insp.ArchiveTask(q, info.ID))
	require.NoError(t, insp.PauseQueue(q))

	st, err := metrics.ReadQueue(context.Background(), rdb, q)
	age := time.Since(first)
	require.NoError(t, err)
	want, err := insp.GetQueueInfo(q)
	require.NoError(t, err)
	require.EqualValues(t, want.Pending, st.Pending)
	require.EqualValues(t, want.Scheduled, st.Scheduled)
	require.EqualValues(t, want.Archived, st.Archived)
	require.EqualValues(t, want.Active, st.Active)
	require.EqualValues(t, want.Retry, st.Retry)
	require.EqualValues(t, want.Completed, st.Completed)
	require.EqualValues(t, want.ProcessedTotal, st.Processed)
	require.EqualValues(t, want.FailedTotal, st.Failed)
	require.Equal(t, want.Paused, st.Paused)
	require.InDelta(t, want.Latency.Seconds(), st.Latency.Seconds(), 0.5)
	require.Positive(t, st.Latency)
	require.LessOrEqual(t, st.Latency, age, "the oldest pending task is no older than the test")

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewQueueCollector(rdb, []string{q, "resetq-empty"}))
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems, "lint-clean names")
	require.Equal(t, 5.0, value(t, reg, "asynq_queue_tasks", q, "pending"))
	require.Equal(t, 1.0, value(t, reg, "asynq_queue_paused", q, ""))
	require.Equal(t, 0.0, value(t, reg, "asynq_queue_size", "resetq-empty", ""), "a queue nobody used yet reads as empty")
}

func value(t *testing.T, g prometheus.Gatherer, name, queue, state string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["queue"] == queue && labels["state"] == state {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{queue=%q,state=%q}", name, queue, state)
	return 0
}
