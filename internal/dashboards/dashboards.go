// Package dashboards builds resetq's Grafana dashboard. The JSON in
// dashboards/ is generated from here (go generate ./internal/dashboards)
// and a test keeps the two the same, so every panel's query is also
// available to the tests that run it against a real Prometheus.
package dashboards

//go:generate go run ./gen ../../dashboards/resetq-overview.json

import (
	"encoding/json"
	"strings"
)

// Target is one query of a panel.
type Target struct {
	Expr   string
	Legend string
}

// Panel is one panel.
type Panel struct {
	Title       string
	Description string
	// Kind is timeseries or stat.
	Kind    string
	Unit    string
	Width   int // of 24 columns
	Targets []Target
}

// Row is a titled row of panels.
type Row struct {
	Title  string
	Panels []Panel
}

const (
	p = `provider=~"$provider"`
	c = `campaign=~"$campaign"`
)

func q(quantile, metric, by, filter string) Target {
	return Target{
		Expr:   "histogram_quantile(" + quantile + ", sum by (le" + by + ") (rate(" + metric + "_bucket{" + filter + "}[$__rate_interval])))",
		Legend: "p" + strings.TrimPrefix(quantile, "0.") + legendBy(by),
	}
}

func legendBy(by string) string {
	by = strings.TrimPrefix(by, ", ")
	if by == "" {
		return ""
	}
	return " {{" + by + "}}"
}

// Rows are the overview dashboard's rows: one per concern.
var Rows = []Row{
	{Title: "Resets", Panels: []Panel{
		{Title: "Resets per second by outcome", Kind: "timeseries", Unit: "ops", Width: 12,
			Description: "Reset tasks ending, per second: succeeded, skipped (nothing to do for that user), failed.",
			Targets:     []Target{{`sum by (outcome) (rate(resetq_resets_total{` + p + `}[$__rate_interval]))`, "{{outcome}}"}}},
		{Title: "Skipped, failed and unconfirmed, by reason", Kind: "timeseries", Unit: "ops", Width: 12,
			Description: "Why resets did not plainly go out: user_not_found, user_disabled, recipient_refused, retries_exhausted…, " +
				"and succeeded: unconfirmed, sent but never answered.",
			Targets: []Target{{`sum by (outcome, reason) (rate(resetq_resets_total{` + p + `, reason!=""}[$__rate_interval]))`, "{{outcome}}: {{reason}}"}}},
		{Title: "Failure ratio", Kind: "timeseries", Unit: "percentunit", Width: 8,
			Description: "Share of ended resets that failed. The ResetqFailureRatioHigh alert pages above 5 %.",
			Targets: []Target{{`sum by (provider) (rate(resetq_resets_total{` + p + `, outcome="failed"}[$__rate_interval])) / ` +
				`sum by (provider) (rate(resetq_resets_total{` + p + `}[$__rate_interval]))`, "{{provider}}"}}},
		{Title: "Reset duration", Kind: "timeseries", Unit: "s", Width: 8,
			Description: "Time of a task's last attempt, dequeue to outcome: lookup, reset and the retries inside the attempt.",
			Targets: []Target{q("0.5", "resetq_reset_duration_seconds", "", p), q("0.95", "resetq_reset_duration_seconds", "", p),
				q("0.99", "resetq_reset_duration_seconds", "", p)}},
		{Title: "Halted providers", Kind: "stat", Unit: "none", Width: 8,
			Description: "1 while a provider is halted: its queue is paused until `resetq provider resume`.",
			Targets:     []Target{{`max by (provider) (resetq_provider_halted{` + p + `})`, "{{provider}}"}}},
	}},
	{Title: "Identity providers", Panels: []Panel{
		{Title: "IdP latency by operation", Kind: "timeseries", Unit: "s", Width: 12,
			Description: "Duration of calls to the IdP: token, lookup, reset. Keycloak sends its email inside the reset call.",
			Targets: []Target{q("0.5", "resetq_idp_request_duration_seconds", ", operation", p),
				q("0.95", "resetq_idp_request_duration_seconds", ", operation", p),
				q("0.99", "resetq_idp_request_duration_seconds", ", operation", p)}},
		{Title: "IdP requests by status", Kind: "timeseries", Unit: "reqps", Width: 12,
			Description: "Calls to the IdP per second by operation and HTTP status (error: no answer).",
			Targets:     []Target{{`sum by (operation, code) (rate(resetq_idp_requests_total{` + p + `}[$__rate_interval]))`, "{{operation}} {{code}}"}}},
		{Title: "Token requests", Kind: "timeseries", Unit: "short", Width: 12,
			Description: "Admin tokens fetched, by result. A healthy worker fetches a few an hour, not one per reset.",
			Targets:     []Target{{`sum by (provider, result) (increase(resetq_token_requests_total{` + p + `}[$__rate_interval]))`, "{{provider}} {{result}}"}}},
		{Title: "Rate-limit waits", Kind: "timeseries", Unit: "s", Width: 12,
			Description: "Seconds per second resets waited for the provider's rate_limit or an IdP's Retry-After.",
			Targets:     []Target{{`sum by (provider) (rate(resetq_ratelimit_wait_seconds_sum{` + p + `}[$__rate_interval]))`, "{{provider}}"}}},
	}},
	{Title: "Queues", Panels: []Panel{
		{Title: "Queue depth by state", Kind: "timeseries", Unit: "short", Width: 12,
			Description: "Tasks in each queue by state. Pending grows when work arrives faster than it is done.",
			Targets:     []Target{{`max by (queue, state) (asynq_queue_tasks{queue=~"$queue", state=~"pending|active|scheduled|retry|archived"})`, "{{queue}} {{state}}"}}},
		{Title: "Age of the oldest pending task", Kind: "timeseries", Unit: "s", Width: 12,
			Description: "How long the next task has waited: what a user waiting for an email feels. ResetqResetsDelayed pages above 5 min.",
			Targets:     []Target{{`max by (queue) (asynq_queue_latency_seconds{queue=~"$queue"})`, "{{queue}}"}}},
		{Title: "Attempts per second", Kind: "timeseries", Unit: "ops", Width: 12,
			Description: "Task attempts finished and failed (failed attempts include ones retried later).",
			Targets: []Target{{`max by (queue) (rate(asynq_tasks_processed_total{queue=~"$queue"}[$__rate_interval]))`, "{{queue}} processed"},
				{`max by (queue) (rate(asynq_tasks_failed_total{queue=~"$queue"}[$__rate_interval]))`, "{{queue}} failed"}}},
		{Title: "Paused queues", Kind: "stat", Unit: "none", Width: 12,
			Description: "1 while a queue is paused (its provider is halted).",
			Targets:     []Target{{`max by (queue) (asynq_queue_paused{queue=~"$queue"})`, "{{queue}}"}}},
	}},
	{Title: "Campaigns", Panels: []Panel{
		{Title: "Campaign rows by state", Kind: "timeseries", Unit: "short", Width: 12,
			Description: "Rows of each unfinished campaign: waiting (not yet queued), queued (at most its window), and by outcome. A finished campaign leaves the graph.",
			Targets:     []Target{{`max by (campaign, state) (resetq_campaign_tasks{` + c + `})`, "{{campaign}} {{state}}"}}},
		{Title: "Campaign pace", Kind: "timeseries", Unit: "ops", Width: 6,
			Description: "Users per second getting an outcome, per campaign: it should sit at the campaign's --rate (or its provider's rate_limit).",
			Targets: []Target{{`sum by (campaign) (deriv(max by (campaign, state) (resetq_campaign_tasks{` + c +
				`, state=~"succeeded|skipped|failed|cancelled"})[$__rate_interval:]))`, "{{campaign}}"}}},
		{Title: "Campaign done", Kind: "stat", Unit: "percentunit", Width: 6,
			Description: "Share of each unfinished campaign's rows that have an outcome.",
			Targets: []Target{{`sum by (campaign) (max by (campaign, state) (resetq_campaign_tasks{` + c + `, state=~"succeeded|skipped|failed|cancelled"})) / ` +
				`sum by (campaign) (max by (campaign, state) (resetq_campaign_tasks{` + c + `}))`, "{{campaign}}"}}},
	}},
	{Title: "Webhooks", Panels: []Panel{
		{Title: "Webhook deliveries by outcome", Kind: "timeseries", Unit: "ops", Width: 8,
			Description: "Delivery attempts per second: delivered, retried, failed (retries exhausted), disabled (410), dropped.",
			Targets:     []Target{{`sum by (event, outcome) (rate(resetq_webhook_deliveries_total[$__rate_interval]))`, "{{event}} {{outcome}}"}}},
		{Title: "Webhook delivery latency", Kind: "timeseries", Unit: "s", Width: 8,
			Description: "Time receivers take to answer, by endpoint.",
			Targets:     []Target{q("0.95", "resetq_webhook_delivery_duration_seconds", ", endpoint", "")}},
		{Title: "Disabled webhook endpoints", Kind: "stat", Unit: "none", Width: 8,
			Description: "1 while an endpoint is disabled after a 410 Gone: `resetq webhook enable NAME`.",
			Targets:     []Target{{`max by (endpoint) (resetq_webhook_endpoint_disabled)`, "{{endpoint}}"}}},
	}},
	{Title: "Workers", Panels: []Panel{
		{Title: "Workers up", Kind: "stat", Unit: "none", Width: 12,
			Description: "Worker processes Prometheus can scrape (job resetq).",
			Targets:     []Target{{`sum(up{job="resetq"})`, "up"}}},
		{Title: "Versions running", Kind: "stat", Unit: "none", Width: 12,
			Description: "Worker processes by resetq version: more than one during a rollout.",
			Targets:     []Target{{`count by (version) (resetq_build_info)`, "{{version}}"}}},
	}},
}

// Queries lists every panel's queries, for tests that run them.
func Queries() []string {
	var out []string
	for _, r := range Rows {
		for _, pn := range r.Panels {
			for _, t := range pn.Targets {
				out = append(out, t.Expr)
			}
		}
	}
	return out
}

var ds = map[string]any{"type": "prometheus", "uid": "${datasource}"}

func variable(name, label, query string) map[string]any {
	return map[string]any{
		"name": name, "label": label, "type": "query", "datasource": ds,
		"query":      map[string]any{"query": query, "refId": name},
		"definition": query, "refresh": 2, "multi": true, "includeAll": true, "allValue": ".*",
		"current": map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}},
		"sort":    1,
	}
}

// Overview builds the dashboard as Grafana 10+ JSON.
func Overview() ([]byte, error) {
	var panels []any
	id, y := 1, 0
	for _, r := range Rows {
		panels = append(panels, map[string]any{"id": id, "type": "row", "title": r.Title, "collapsed": false,
			"gridPos": map[string]int{"h": 1, "w": 24, "x": 0, "y": y}, "panels": []any{}})
		id++
		y++
		x := 0
		for _, pn := range r.Panels {
			if x+pn.Width > 24 {
				x, y = 0, y+8
			}
			var targets []any
			for i, t := range pn.Targets {
				targets = append(targets, map[string]any{"refId": string(rune('A' + i)), "datasource": ds,
					"expr": t.Expr, "legendFormat": t.Legend, "range": true})
			}
			panel := map[string]any{
				"id": id, "type": pn.Kind, "title": pn.Title, "description": pn.Description, "datasource": ds,
				"gridPos":     map[string]int{"h": 8, "w": pn.Width, "x": x, "y": y},
				"targets":     targets,
				"fieldConfig": map[string]any{"defaults": map[string]any{"unit": pn.Unit}, "overrides": []any{}},
			}
			if pn.Kind == "stat" {
				panel["options"] = map[string]any{"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}},
					"colorMode": "value", "graphMode": "none"}
			} else {
				panel["options"] = map[string]any{"legend": map[string]any{"displayMode": "list", "placement": "bottom"},
					"tooltip": map[string]any{"mode": "multi"}}
			}
			panels = append(panels, panel)
			id++
			x += pn.Width
		}
		y += 8
	}
	d := map[string]any{
		"uid": "resetq-overview", "title": "resetq overview", "tags": []string{"resetq"},
		"description":   "Password resets per provider: outcomes, IdP latency, tokens, rate limits, queues, halts, webhooks.",
		"schemaVersion": 39, "version": 1, "editable": true, "timezone": "browser", "refresh": "30s",
		"time":        map[string]string{"from": "now-6h", "to": "now"},
		"annotations": map[string]any{"list": []any{}},
		"templating": map[string]any{"list": []any{
			map[string]any{"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
				"current": map[string]any{}, "hide": 0},
			variable("provider", "Provider", "label_values(resetq_resets_total, provider)"),
			variable("queue", "Queue", "label_values(asynq_queue_size, queue)"),
			variable("campaign", "Campaign", "label_values(resetq_campaign_tasks, campaign)"),
		}},
		"panels": panels,
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
