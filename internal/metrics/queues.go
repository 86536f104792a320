package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// QueueCollector reports Asynq's queues under lint-clean names. asynq's
// own x/metrics exports two gauges named like counters, and its
// Inspector.GetQueueInfo runs MEMORY USAGE, which managed Redis services
// forbid; this collector reads the counts with one script per queue, which
// touches only that queue's keys (one hash slot, so Redis Cluster is fine).
//
// It reads Redis on every scrape: when several workers run, let one of them
// (or a dedicated process) collect, so sums do not double (http.queue_metrics).
type QueueCollector struct {
	rdb    redis.UniversalClient
	queues []string

	tasks, size, latency, paused, processed, failed, up *prometheus.Desc
}

// NewQueueCollector reports the given queues.
func NewQueueCollector(rdb redis.UniversalClient, queues []string) *QueueCollector {
	q := []string{"queue"}
	return &QueueCollector{
		rdb: rdb, queues: queues,
		tasks:     prometheus.NewDesc("asynq_queue_tasks", "Tasks in the queue, by state (pending, active, scheduled, retry, archived, completed).", []string{"queue", "state"}, nil),
		size:      prometheus.NewDesc("asynq_queue_size", "Tasks in the queue in every state.", q, nil),
		latency:   prometheus.NewDesc("asynq_queue_latency_seconds", "Age of the oldest pending task: how long the next task to run has waited.", q, nil),
		paused:    prometheus.NewDesc("asynq_queue_paused", "1 while the queue is paused (a halted provider), else 0.", q, nil),
		processed: prometheus.NewDesc("asynq_tasks_processed_total", "Task attempts the queue's workers finished, failed ones included.", q, nil),
		failed:    prometheus.NewDesc("asynq_tasks_failed_total", "Task attempts that failed (including ones retried later).", q, nil),
		up:        prometheus.NewDesc("resetq_queue_metrics_up", "1 when the last read of the queue's counts from Redis succeeded.", q, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.tasks, c.size, c.latency, c.paused, c.processed, c.failed, c.up} {
		ch <- d
	}
}

// queueStats returns, for one queue: LLEN pending, LLEN active, ZCARD
// scheduled, retry, archived, completed, the total processed and failed
// counters, whether it is paused, and pending_since (Unix ns) of its oldest
// pending task. The key layout is asynq v0.26's (internal/base); a test
// compares the result with Inspector.GetQueueInfo.
var queueStats = redis.NewScript(`
local res = {}
res[1] = redis.call("LLEN", KEYS[1])
res[2] = redis.call("LLEN", KEYS[2])
for i = 3, 6 do res[i] = redis.call("ZCARD", KEYS[i]) end
res[7] = tonumber(redis.call("GET", KEYS[7]) or "0")
res[8] = tonumber(redis.call("GET", KEYS[8]) or "0")
res[9] = redis.call("EXISTS", KEYS[9])
res[10] = "0"
if res[1] > 0 then
  local id = redis.call("LRANGE", KEYS[1], -1, -1)[1]
  res[10] = redis.call("HGET", ARGV[1] .. id, "pending_since") or "0"
end
return res`)

// QueueStats are the counts of one queue.
type QueueStats struct {
	Pending, Active, Scheduled, Retry, Archived, Completed int64
	Processed, Failed                                      int64
	Paused                                                 bool
	Latency                                                time.Duration
}

// ReadQueue reads one queue's counts.
func ReadQueue(ctx context.Context, rdb redis.UniversalClient, queue string) (QueueStats, error) {
	p := "asynq:{" + queue + "}:"
	keys := []string{p + "pending", p + "active", p + "scheduled", p + "retry", p + "archived", p + "completed",
		p + "processed", p + "failed", p + "paused"}
	res, err := queueStats.Run(ctx, rdb, keys, p+"t:").Slice()
	if err != nil {
		return QueueStats{}, err
	}
	n := func(i int) int64 {
		if v, ok := res[i].(int64); ok {
			return v
		}
		return 0
	}
	st := QueueStats{Pending: n(0), Active: n(1), Scheduled: n(2), Retry: n(3), Archived: n(4), Completed: n(5),
		Processed: n(6), Failed: n(7), Paused: n(8) == 1}
	if s, ok := res[9].(string); ok {
		if ns, err := strconv.ParseInt(s, 10, 64); err == nil && ns > 0 {
			st.Latency = max(time.Since(time.Unix(0, ns)), 0)
		}
	}
	return st, nil
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, q := range c.queues {
		st, err := ReadQueue(ctx, c.rdb, q)
		if err != nil {
			ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0, q)
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1, q)
		for state, v := range map[string]int64{"pending": st.Pending, "active": st.Active, "scheduled": st.Scheduled,
			"retry": st.Retry, "archived": st.Archived, "completed": st.Completed} {
			ch <- prometheus.MustNewConstMetric(c.tasks, prometheus.GaugeValue, float64(v), q, state)
		}
		size := st.Pending + st.Active + st.Scheduled + st.Retry + st.Archived + st.Completed
		ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(size), q)
		ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, st.Latency.Seconds(), q)
		paused := 0.0
		if st.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, paused, q)
		ch <- prometheus.MustNewConstMetric(c.processed, prometheus.CounterValue, float64(st.Processed), q)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(st.Failed), q)
	}
}
