package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/internal/campaigns"
)

// CampaignCollector reports resetq_campaign_tasks for every campaign not
// yet finished, read from Redis at each scrape. Like the queue collector,
// let one process per deployment collect it (http.queue_metrics).
type CampaignCollector struct {
	store *campaigns.Store
	tasks *prometheus.Desc
}

// CampaignStates are the values of the state label, in the order a row
// goes through them.
var CampaignStates = []string{"waiting", "queued", "succeeded", "skipped", "failed", "cancelled"}

// NewCampaignCollector reports the campaigns kept in rdb.
func NewCampaignCollector(rdb redis.UniversalClient) *CampaignCollector {
	return &CampaignCollector{store: campaigns.NewStore(rdb),
		tasks: prometheus.NewDesc("resetq_campaign_tasks",
			"Rows of a campaign not yet finished, by state: waiting (not yet queued), queued, or the outcome.",
			[]string{"campaign", "state"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *CampaignCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.tasks }

// Collect implements prometheus.Collector. A campaign that cannot be read
// is left out of this scrape.
func (c *CampaignCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ids, err := c.store.Active(ctx)
	if err != nil {
		return
	}
	for _, id := range ids {
		camp, err := c.store.Get(ctx, id)
		if err != nil || camp == nil || camp.Done() || camp.Status == campaigns.Importing {
			continue
		}
		totals := camp.Totals()
		for _, state := range CampaignStates {
			ch <- prometheus.MustNewConstMetric(c.tasks, prometheus.GaugeValue, float64(totals[state]), id, state)
		}
	}
}
