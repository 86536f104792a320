package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/internal/audit"
	"github.com/resetq/resetq/internal/checks"
	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/console"
	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/producer/httpapi"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/webhook"
)

// newConsole is the console of a worker's or `resetq api`'s listener:
// resuming is the halt service's, emitting provider.resumed through wh.
func newConsole(cfg *config.Config, rdb redis.UniversalClient, client *producer.Client, wh halt.Emitter, reg prometheus.Gatherer, log *slog.Logger) http.Handler {
	src := newConsoleSource(cfg, rdb, apiHalts{newHalts(cfg, rdb, wh, log), cfg, log}, client)
	src.metrics, src.log = reg, log
	return console.New(console.Config{Logger: log, Source: src})
}

// consoleSource is the console's view of resetq: the configuration, the
// halt service (as the API uses it), Asynq's queues and the providers'
// last checks.
type consoleSource struct {
	cfg    *config.Config
	halts  apiHalts
	insp   *asynq.Inspector
	client *producer.Client
	hooks  *webhook.States
	checks *checks.Store
	// rates measures the providers' and campaigns' pace from counters
	// every worker keeps in Redis, sampled as pages are rendered.
	rates *console.Sampler
	// metrics is this process's registry, which counts the resets it
	// ended (a worker's; `resetq api` ends none).
	metrics prometheus.Gatherer
	log     *slog.Logger
	// audit keeps the checks and re-enabled endpoints; the rest is kept
	// by the producer and the halt service.
	audit *audit.Trail
}

// rateWindow is how far back the console's rates look.
const rateWindow = time.Minute

func newConsoleSource(cfg *config.Config, rdb redis.UniversalClient, halts apiHalts, client *producer.Client) *consoleSource {
	return &consoleSource{cfg: cfg, halts: halts, insp: asynq.NewInspectorFromRedisClient(rdb), client: client,
		hooks: webhook.NewStates(rdb), checks: checks.New(rdb), rates: console.NewSampler(rateWindow, nil),
		log: slog.New(slog.DiscardHandler), audit: auditTrail(cfg, rdb)}
}

func (s *consoleSource) Providers(ctx context.Context) ([]console.Provider, error) {
	out := make([]console.Provider, 0, len(s.cfg.Providers))
	known, err := s.insp.Queues()
	if err != nil {
		return out, err
	}
	for _, p := range s.cfg.Providers {
		cp := console.Provider{Name: p.Name, Type: p.Type, RateLimit: p.RateLimit.String()}
		h, err := s.halts.Halt(ctx, p.Name)
		if err != nil {
			return out, err
		}
		if h.Halted {
			cp.Halted, cp.Reason, cp.Hint = true, h.Reason, h.Hint
			if h.Since != nil {
				cp.Since = *h.Since
			}
			if st, err := s.halts.s.Get(ctx, p.Name); err == nil && st != nil {
				cp.Message = st.Message
			}
		}
		// Asynq counts the tasks every worker processed in Redis: their
		// growth is the provider's rate, whichever workers run.
		var processed int64
		for _, q := range tasks.Queues(p.Name) {
			if !slices.Contains(known, q) {
				continue // nothing was ever queued there
			}
			info, err := s.insp.GetQueueInfo(q)
			if err != nil {
				return out, err
			}
			cp.Waiting += info.Pending + info.Scheduled
			cp.InFlight += info.Active
			cp.Retrying += info.Retry
			cp.Failed += info.Archived
			processed += int64(info.ProcessedTotal)
		}
		r := s.rates.Observe("provider:"+p.Name, processed)
		cp.Current = &r
		// The last check only informs: a record that cannot be read is
		// logged, and the page shows the rest.
		last, err := s.checks.Last(ctx, p.Name)
		if err != nil {
			s.log.Error("console: reading the provider's last check failed", "provider", p.Name, "error", err)
		}
		if last != nil {
			cp.LastCheck = &console.LastCheck{At: last.At, By: last.By, Checked: checked(*last)}
		}
		out = append(out, cp)
	}
	return out, nil
}

func (s *consoleSource) Resume(ctx context.Context, provider string) (console.Resumed, error) {
	res, err := s.halts.Resume(ctx, provider)
	if errors.Is(err, httpapi.ErrUnknownProvider) {
		return console.Resumed{}, console.ErrUnknownProvider
	}
	return console.Resumed{WasHalted: res.WasHalted, Requeued: res.Requeued}, err
}

// Check checks the provider and keeps what it found as its last check; a
// check that could not be kept is logged, and shown all the same.
func (s *consoleSource) Check(ctx context.Context, provider, by string) (console.Checked, error) {
	p := s.cfg.Provider(provider)
	if p == nil {
		return console.Checked{}, console.ErrUnknownProvider
	}
	out, err := checkProvider(ctx, p)
	if err != nil {
		return console.Checked{}, err
	}
	// Kept even when the operator's browser gave up waiting for it.
	rec := checkRecord(out, by, time.Now())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.checks.Save(sctx, rec); err != nil {
		s.log.Error("console: the check could not be kept as the provider's last", "provider", provider, "by", by, "error", err)
	}
	auditAction(sctx, s.audit, checkAudit(out))
	return checked(rec), nil
}

// checkRecord is a check's output as its provider's last check, run by by
// at at.
func checkRecord(out checkOutput, by string, at time.Time) checks.Check {
	return checks.Check{Provider: out.Provider, At: at.UTC(), By: by, OK: out.OK, Lines: out.Lines, Warnings: out.Warnings,
		Reason: out.Reason, Problem: out.Problem, Fix: out.Fix}
}

// checked is a check as the console shows it.
func checked(c checks.Check) console.Checked {
	out := console.Checked{OK: c.OK, Lines: c.Lines, Warnings: c.Warnings, Hint: c.Fix}
	if !c.OK {
		out.Problem = strings.TrimSuffix(strings.TrimSpace(c.Reason+": "+c.Problem), ":")
	}
	return out
}

func (s *consoleSource) Campaigns(ctx context.Context) ([]console.Campaign, error) {
	list, err := s.client.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]console.Campaign, 0, len(list))
	for _, c := range list {
		var measured *console.Rate
		if c.Status == producer.CampaignRunning {
			// Its rows get their outcomes from every worker: the growth
			// of their count is its pace.
			r := s.rates.Observe("campaign:"+c.ID, int64(c.Finished()))
			measured = &r
		}
		out = append(out, s.campaign(c, measured))
	}
	return out, nil
}

// campaign is a campaign as the console shows it, with its pace measured
// now (nil when it does not run).
func (s *consoleSource) campaign(c *producer.Campaign, measured *console.Rate) console.Campaign {
	cc := console.Campaign{Name: c.ID, Provider: c.Provider, Status: string(c.Status), Rows: c.Rows, Finished: c.Finished(),
		Queued: c.Inflight, Waiting: c.Waiting(), Succeeded: c.Succeeded, Skipped: c.Skipped, Failed: c.Failed,
		Cancelled: c.Cancelled, CreatedAt: c.CreatedAt, StartedAt: c.StartedAt, FinishedAt: c.FinishedAt, Measured: measured}
	if c.StartedBy.Actor != "" {
		cc.StartedBy = c.StartedBy.String()
	}
	for _, r := range c.Reasons {
		if r.Reason != "" {
			cc.Why = append(cc.Why, console.Count{Outcome: r.State, Reason: r.Reason, N: r.N})
		}
	}
	// Its own pace, else its provider's limit.
	perSecond := c.Rate()
	cc.Rate = config.Rate{N: c.RateN, Per: c.RatePer}.String()
	if perSecond == 0 {
		cc.Rate = "as fast as its provider allows"
		if p := s.cfg.Provider(c.Provider); p != nil && !p.RateLimit.IsZero() {
			perSecond = p.RateLimit.PerSecond()
			cc.Rate += " (" + p.RateLimit.String() + ")"
		}
	}
	// The time left at the pace measured, else at the one configured; a
	// campaign measured standing still cannot tell.
	if measured != nil && !measured.Measuring() {
		perSecond = measured.PerSecond
	}
	if left := cc.Waiting + cc.Queued; perSecond > 0 && left > 0 && c.Status == producer.CampaignRunning {
		cc.ETA = time.Duration(float64(left) / perSecond * float64(time.Second)).Round(time.Second).String()
	}
	return cc
}

func (s *consoleSource) Steer(ctx context.Context, campaign, action string) error {
	steer := map[string]func(context.Context, string) (*producer.Campaign, error){
		console.Pause: s.client.PauseCampaign, console.Resume: s.client.ResumeCampaign, console.Cancel: s.client.CancelCampaign,
	}[action]
	_, err := steer(ctx, campaign)
	return consoleErr(err)
}

func (s *consoleSource) Reasons(ctx context.Context, campaign string) ([]console.Count, error) {
	counts, err := s.client.CampaignReasons(ctx, campaign)
	if err != nil {
		return nil, consoleErr(err)
	}
	out := make([]console.Count, len(counts))
	for i, c := range counts {
		out[i] = console.Count{Outcome: c.State, Reason: c.Reason, N: c.N}
	}
	return out, nil
}

func (s *consoleSource) Report(ctx context.Context, campaign string, states []string, w io.Writer) error {
	return consoleErr(s.client.WriteReport(ctx, campaign, "csv", states, w))
}

// consoleErr is the producer's error in the console's terms.
func consoleErr(err error) error {
	switch {
	case errors.Is(err, producer.ErrCampaignNotFound):
		return console.ErrUnknownCampaign
	case errors.Is(err, producer.ErrCampaignState):
		return console.ErrNotNow
	}
	return err
}

func (s *consoleSource) Webhooks(ctx context.Context) (console.Webhooks, error) {
	var out console.Webhooks
	for _, e := range s.cfg.Webhooks.Endpoints {
		st, err := s.hooks.Get(ctx, e.Name)
		if err != nil {
			return out, err
		}
		out.Endpoints = append(out.Endpoints, console.Webhook{Name: e.Name, URL: redactQuery(e.URL), Events: e.Events,
			Disabled: st.Disabled, DisabledSince: st.DisabledAt, DisabledReason: st.DisabledReason,
			LastStatus: st.LastStatus, LastAt: st.LastAt, LastError: st.LastError, Delivered: st.Delivered, Failed: st.Failed})
	}
	queues, err := s.insp.Queues()
	if err != nil || !slices.Contains(queues, tasks.WebhookQueueName) {
		return out, err
	}
	info, err := s.insp.GetQueueInfo(tasks.WebhookQueueName)
	if err != nil {
		return out, err
	}
	out.Backlog = info.Pending + info.Scheduled + info.Retry + info.Active
	return out, nil
}

func (s *consoleSource) EnableWebhook(ctx context.Context, endpoint string) (bool, error) {
	if !slices.ContainsFunc(s.cfg.Webhooks.Endpoints, func(e config.WebhookEndpoint) bool { return e.Name == endpoint }) {
		return false, console.ErrUnknownWebhook
	}
	was, err := s.hooks.Enable(ctx, endpoint)
	auditAction(ctx, s.audit, webhookAudit(endpoint, was, err))
	return was, err
}

func (s *consoleSource) Outcomes(ctx context.Context, limit int) (console.Outcomes, error) {
	out := console.Outcomes{Since: "ended by this worker process since it started (each worker counts its own; Prometheus adds them up)"}
	if s.metrics == nil {
		out.Since = "`resetq api` ends no resets: a worker's console counts them"
	} else {
		mfs, err := s.metrics.Gather()
		if err != nil {
			return out, err
		}
		counts := map[[2]string]int{}
		for _, mf := range mfs {
			if mf.GetName() != "resetq_resets_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				var k [2]string
				for _, l := range m.GetLabel() {
					switch l.GetName() {
					case "outcome":
						k[0] = l.GetValue()
					case "reason":
						k[1] = l.GetValue()
					}
				}
				counts[k] += int(m.GetCounter().GetValue())
			}
		}
		for k, n := range counts {
			out.Counts = append(out.Counts, console.Count{Outcome: k[0], Reason: k[1], N: n})
		}
	}
	known, err := s.insp.Queues()
	if err != nil {
		return out, err
	}
	for _, p := range s.cfg.Providers {
		for _, q := range tasks.Queues(p.Name) {
			if !slices.Contains(known, q) {
				continue
			}
			archived, err := s.insp.ListArchivedTasks(q, asynq.PageSize(limit))
			if err != nil {
				return out, err
			}
			for _, t := range archived {
				// A task archived on its last try while its provider was
				// halted, or while it waited for a rate limit, did not
				// fail: it goes back to its queue.
				if strings.Contains(t.LastErr, halt.ErrorMarker) || strings.HasPrefix(t.LastErr, "rate_limited:") {
					continue
				}
				f := console.Failure{TaskID: t.ID, Provider: p.Name, Error: t.LastErr, FailedAt: t.LastFailedAt}
				if pl, err := tasks.Decode(t.Payload); err == nil && s.cfg.Log.IncludeUser {
					f.User = pl.User.String()
				}
				out.Failures = append(out.Failures, f)
			}
		}
	}
	slices.SortFunc(out.Failures, func(a, b console.Failure) int { return b.FailedAt.Compare(a.FailedAt) })
	if len(out.Failures) > limit {
		out.Failures = out.Failures[:limit]
	}
	return out, nil
}

func (s *consoleSource) Task(ctx context.Context, id string) (*console.Task, error) {
	st, err := s.client.Status(ctx, id)
	if errors.Is(err, producer.ErrTaskNotFound) || errors.Is(err, producer.ErrInvalidRequest) {
		return nil, console.ErrUnknownTask
	}
	if err != nil {
		return nil, err
	}
	t := &console.Task{ID: st.TaskID, Provider: st.Provider, State: st.State, Retried: st.Retried, LastError: st.LastError,
		Halted: st.Halt != nil, Requester: st.Requester.String()}
	if r := st.Result; r != nil {
		t.Outcome, t.Reason, t.Error, t.Attempts, t.Finished, t.Campaign = string(r.Outcome), r.Reason, r.Error, r.Attempts, r.FinishedAt, r.Campaign
	}
	return t, nil
}

// campaignRequest is the producer's request for a campaign from an upload.
func (s *consoleSource) campaignRequest(req console.NewCampaign) (producer.CampaignRequest, error) {
	pr := producer.CampaignRequest{Name: req.Name, Provider: req.Provider, Source: req.Source}
	if req.By != "" {
		pr.Requester = tasks.Requester{Actor: "console:" + req.By, Address: req.Address}
	}
	if s.cfg.Provider(req.Provider) == nil {
		return pr, fmt.Errorf("%w: choose a provider (%s)", console.ErrBadInput, strings.Join(s.cfg.ProviderNames(), ", "))
	}
	if req.Rate != "" {
		r, err := config.ParseRate(req.Rate)
		if err != nil {
			return pr, fmt.Errorf("%w: pace: %v", console.ErrBadInput, err)
		}
		pr.RateN, pr.RatePer = r.N, r.Per
	}
	return pr, nil
}

func (s *consoleSource) Scan(_ context.Context, src io.Reader, req console.NewCampaign) (console.ScanReport, error) {
	pr, err := s.campaignRequest(req)
	if err != nil {
		return console.ScanReport{}, err
	}
	scan, err := s.client.ScanCampaign(src, pr)
	if err != nil {
		return console.ScanReport{}, badInput(err)
	}
	out := console.ScanReport{Rows: scan.Rows, Valid: scan.Valid, Duplicates: scan.Duplicates, Invalid: scan.Invalid}
	for _, p := range scan.Problems[:min(len(scan.Problems), 100)] {
		out.Problems = append(out.Problems, console.Problem{Line: p.Line, Reason: p.Reason, Detail: p.Detail})
	}
	return out, nil
}

func (s *consoleSource) Start(ctx context.Context, src io.Reader, req console.NewCampaign) (string, error) {
	pr, err := s.campaignRequest(req)
	if err != nil {
		return "", err
	}
	started, err := s.client.StartCampaign(ctx, src, pr)
	if err != nil {
		return "", badInput(err)
	}
	return started.Campaign.ID, nil
}

// badInput is the producer's refusal of a request or file in the
// console's terms; other errors pass as they are.
func badInput(err error) error {
	if errors.Is(err, producer.ErrInvalidRequest) || errors.Is(err, producer.ErrCampaignExists) {
		return fmt.Errorf("%w: %v", console.ErrBadInput, err)
	}
	return err
}
