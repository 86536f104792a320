package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/internal/audit"
	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/internal/metrics"
	"github.com/resetq/resetq/internal/redisconn"
	"github.com/resetq/resetq/internal/version"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/producer/httpapi"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/webhook"
	"github.com/resetq/resetq/worker"
)

func (g *global) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(g.config)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return cfg, nil
}

// connect loads the configuration and opens the Redis it names; the
// caller closes the client.
func (g *global) connect() (*config.Config, redis.UniversalClient, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	rdb, err := openRedis(cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, rdb, nil
}

// openRedis connects to the Redis a configuration names. Every part of
// resetq in the process shares the one client.
func openRedis(cfg *config.Config) (redis.UniversalClient, error) {
	// Every worker slot holds a connection at times, and each provider's
	// Asynq server has a few more of its own.
	pool := 10
	for _, p := range cfg.Providers {
		pool += p.Concurrency + 5
	}
	if cl := cfg.Redis.Cluster; len(cl.Addrs) > 0 {
		c, err := redisconn.OpenCluster(redisconn.Cluster{Addrs: cl.Addrs, Username: cl.Username,
			Password: cl.Password, TLS: cl.TLS}, pool)
		if err != nil {
			return nil, usageErr("redis.cluster: %v", err)
		}
		return c, nil
	}
	c, err := redisconn.Open(cfg.Redis.URL, pool)
	if err != nil {
		return nil, usageErr("redis.url: %v", err)
	}
	return c, nil
}

// redisWhere describes the configured Redis for messages, without its
// password.
func redisWhere(cfg *config.Config) string {
	if cl := cfg.Redis.Cluster; len(cl.Addrs) > 0 {
		return "cluster " + strings.Join(cl.Addrs, ",")
	}
	return redactURL(cfg.Redis.URL)
}

// asynqConn is the configured Redis as the queue UI connects to it.
func asynqConn(cfg *config.Config) (asynq.RedisConnOpt, error) {
	if cl := cfg.Redis.Cluster; len(cl.Addrs) > 0 {
		opt := asynq.RedisClusterClientOpt{Addrs: cl.Addrs, Username: cl.Username, Password: cl.Password}
		if cl.TLS {
			opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		return opt, nil
	}
	return asynq.ParseRedisURI(cfg.Redis.URL)
}

func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// redisLogger sends go-redis's own messages (failed dials while Redis is
// down) to the process's log instead of raw lines on stderr.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// newRegistry returns a registry with resetq's metrics, the Go and process
// collectors, and the build info set.
func newRegistry() (*prometheus.Registry, *metrics.Metrics) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	v, rev, _ := version.Info()
	m.SetBuildInfo(v, rev)
	return reg, m
}

// offIfZero maps the configuration's 0 (never) to the worker's "off".
func offIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// workerConfig turns the configuration into the worker's.
func workerConfig(cfg *config.Config, rdb redis.UniversalClient, m *metrics.Metrics, log *slog.Logger) (worker.Config, error) {
	wh, err := newWebhooks(cfg, rdb, m, log)
	if err != nil {
		return worker.Config{}, err
	}
	wc := worker.Config{
		Redis: rdb, Concurrency: cfg.Worker.Concurrency, ShutdownTimeout: cfg.Worker.ShutdownTimeout,
		PollInterval: cfg.Worker.PollInterval, OutcomeRetention: cfg.Worker.OutcomeRetention,
		Webhooks: wh, WebhookConcurrency: cfg.Webhooks.Concurrency,
		Metrics: m, Logger: log, LogUser: cfg.Log.IncludeUser, Audit: auditTrail(cfg, rdb),
	}
	for _, p := range cfg.Providers {
		ip, err := p.Settings.New(&p, m.HTTPClient(p.Name, p.Concurrency))
		if err != nil {
			return wc, err
		}
		wc.Providers = append(wc.Providers, worker.Provider{
			Name: p.Name, IdP: ip, AttemptTimeout: p.AttemptTimeout, Concurrency: p.Concurrency,
			RateCount: p.RateLimit.N, RatePeriod: p.RateLimit.Per, DuplicateWindow: *p.DuplicateWindow,
			MailHaltAfter: offIfZero(*p.MailHaltAfter), MailRefusedAfter: offIfZero(*p.MailRefusedAfter),
		})
	}
	return wc, nil
}

// newWebhooks turns the configuration's webhooks into the emitter and
// deliverer. It is valid with no endpoints.
func newWebhooks(cfg *config.Config, rdb redis.UniversalClient, m *metrics.Metrics, log *slog.Logger) (*webhook.Webhooks, error) {
	wc := webhook.Config{Redis: rdb, Timeout: cfg.Webhooks.Timeout, ConnectTimeout: cfg.Webhooks.ConnectTimeout,
		Schedule: cfg.Webhooks.RetrySchedule, UserAgent: version.UserAgent(), Logger: log}
	if m != nil {
		wc.Observer = m
	}
	for _, e := range cfg.Webhooks.Endpoints {
		secrets, err := webhook.ParseSecrets(e.Secret)
		if err != nil {
			return nil, usageErr("webhooks endpoint %s: %v", e.Name, err)
		}
		wc.Endpoints = append(wc.Endpoints, webhook.Endpoint{Name: e.Name, URL: e.URL, Secrets: secrets, Events: e.Events,
			IncludeUser: *e.IncludeUser, AllowPrivateNetworks: e.AllowPrivateNetworks})
	}
	w, err := webhook.New(wc)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return w, nil
}

// producerConfig turns the configuration into the producer's.
func producerConfig(cfg *config.Config, rdb redis.UniversalClient) producer.Config {
	pc := producer.Config{Redis: rdb, OutcomeRetention: cfg.Worker.OutcomeRetention,
		Audit: auditTrail(cfg, rdb), IncludeUser: cfg.Log.IncludeUser}
	for _, p := range cfg.Providers {
		pc.Providers = append(pc.Providers, producer.Provider{
			Name: p.Name, Type: p.Type, UserRefs: p.Settings.Accepts().Names(),
			MaxRetries: *p.MaxRetries, AttemptTimeout: p.AttemptTimeout,
			RateCount: p.RateLimit.N, RatePeriod: p.RateLimit.Per,
		})
	}
	return pc
}

// campaignsConfig turns the configuration into the campaigns' that a
// worker's feeder runs with; its tasks get what producerConfig gives an
// application's.
func campaignsConfig(cfg *config.Config, rdb redis.UniversalClient) campaigns.Config {
	cc := campaigns.Config{Redis: rdb}
	for _, p := range cfg.Providers {
		cc.Providers = append(cc.Providers, campaigns.Provider{
			Name: p.Name, EmailOnly: p.Settings.Accepts() == idp.ByEmail,
			MaxRetries: *p.MaxRetries, AttemptTimeout: p.AttemptTimeout,
			RateCount: p.RateLimit.N, RatePeriod: p.RateLimit.Per,
		})
	}
	return cc
}

// feederConfig turns the configuration into a campaign feeder's; its
// finished campaigns are announced with campaign.completed.
func feederConfig(cfg *config.Config, wh *webhook.Webhooks, log *slog.Logger) campaigns.FeederConfig {
	fc := campaigns.FeederConfig{Interval: cfg.Campaigns.FeedInterval, StallAfter: cfg.Campaigns.StallAfter,
		Keep: cfg.Campaigns.Retention, Logger: log}
	if wh != nil && wh.Enabled() {
		fc.OnFinished = func(ctx context.Context, c *campaigns.Campaign) error {
			return wh.Emit(ctx, campaignEvent(c))
		}
	}
	return fc
}

// campaignEvent is the campaign.completed event of a finished campaign.
func campaignEvent(c *campaigns.Campaign) webhook.Event {
	d := webhook.CampaignData{Campaign: c.ID, Provider: c.Provider, Status: string(c.Status), FinishedAt: c.FinishedAt,
		Totals: map[string]int{"succeeded": c.Succeeded, "skipped": c.Skipped, "failed": c.Failed, "cancelled": c.Cancelled}}
	if !c.StartedAt.IsZero() {
		started := c.StartedAt
		d.StartedAt = &started
	}
	return webhook.CampaignEvent(d)
}

// newAuditTrail is the audit trail on rdb, kept as the configuration's
// audit section says.
func newAuditTrail(cfg *config.Config, rdb redis.UniversalClient) (*audit.Trail, error) {
	return audit.New(audit.Config{Redis: rdb, Retention: cfg.Audit.Retention, MaxRecords: cfg.Audit.MaxRecords})
}

// auditTrail is newAuditTrail for a configuration already checked, which
// cannot fail but without Redis (then it keeps nothing).
func auditTrail(cfg *config.Config, rdb redis.UniversalClient) *audit.Trail {
	trail, _ := newAuditTrail(cfg, rdb)
	return trail
}

// auditAction records an operator's action in the audit trail, in the
// name of who acts for ctx (the console's operator, the API's token), else
// of the command line's user. What was done stands if the trail cannot be
// written.
func auditAction(ctx context.Context, trail *audit.Trail, r audit.Record) {
	who := audit.ActorOf(ctx, tasks.Requester{Actor: cliWho()})
	r.Actor, r.Address = who.Actor, who.Address
	_ = trail.Append(context.WithoutCancel(ctx), r)
}

// checkAudit is a provider check as the audit trail keeps it.
func checkAudit(out checkOutput) audit.Record {
	r := audit.Record{Action: "provider.check", Target: "provider:" + out.Provider, Provider: out.Provider, Result: "ok"}
	if !out.OK {
		r.Result, r.Reason = "failed", strings.TrimSuffix(strings.TrimSpace(out.Reason+": "+out.Problem), ":")
	}
	return r
}

// webhookAudit is a re-enabled endpoint as the audit trail keeps it.
func webhookAudit(endpoint string, was bool, err error) audit.Record {
	r := audit.Record{Action: "webhook.enable", Target: "webhook:" + endpoint, Result: "ok", Reason: "it was not disabled"}
	switch {
	case err != nil:
		r.Result, r.Reason = "failed", err.Error()
	case was:
		r.Reason = "it was disabled"
	}
	return r
}

// newHalts is the halt service as the API, the console and the command
// line use it: provider.resumed through wh, and each resume in the audit
// trail.
func newHalts(cfg *config.Config, rdb redis.UniversalClient, wh halt.Emitter, log *slog.Logger) *halt.Service {
	s := halt.NewService(rdb, wh, log)
	s.Audit = auditTrail(cfg, rdb)
	return s
}

// newAPI builds the HTTP producer API from the configuration.
func newAPI(cfg *config.Config, rdb redis.UniversalClient, client *producer.Client, log *slog.Logger) (*httpapi.API, error) {
	if len(cfg.API.Tokens) == 0 {
		return nil, usageErr("api.tokens: at least one token is required to serve the API " +
			"(each with scopes from: resets, outcomes, campaigns, audit)")
	}
	trail, err := newAuditTrail(cfg, rdb)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	// The API resumes providers as `resetq provider resume` does, with the
	// provider.resumed event.
	wh, err := newWebhooks(cfg, rdb, nil, log)
	if err != nil {
		return nil, err
	}
	ac := httpapi.Config{Client: client, MaxUpload: int64(cfg.API.MaxUploadMB) << 20, Logger: log,
		Halts: apiHalts{newHalts(cfg, rdb, wh, log), cfg, log}, Audit: trail, Redis: rdb}
	for _, t := range cfg.API.Tokens {
		ac.Tokens = append(ac.Tokens, httpapi.Token{Name: t.Name, Secret: t.Token, Scopes: t.Scopes,
			RateN: t.RateLimit.N, RatePer: t.RateLimit.Per, DailyLimit: t.DailyLimit})
	}
	api, err := httpapi.New(ac)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return api, nil
}

// apiHalts serves the API's provider routes from the halt service, in
// the API's own types.
type apiHalts struct {
	s   *halt.Service
	cfg *config.Config
	log *slog.Logger
}

func (h apiHalts) Halt(ctx context.Context, provider string) (httpapi.ProviderHalt, error) {
	if h.cfg.Provider(provider) == nil {
		return httpapi.ProviderHalt{}, httpapi.ErrUnknownProvider
	}
	st, err := h.s.Get(ctx, provider)
	out := httpapi.ProviderHalt{Provider: provider, Halted: st != nil}
	if st != nil {
		out.Reason, out.Hint, out.Since = st.Reason, st.Hint, &st.Since
	}
	return out, err
}

func (h apiHalts) Resume(ctx context.Context, provider string) (httpapi.ProviderResumed, error) {
	if h.cfg.Provider(provider) == nil {
		return httpapi.ProviderResumed{}, httpapi.ErrUnknownProvider
	}
	res, err := h.s.Resume(ctx, provider)
	if errors.Is(err, halt.ErrEventNotQueued) {
		// The provider runs again; only the event is missing.
		h.log.Warn("provider resumed through the API, but its event was not queued", "provider", provider, "error", err)
		err = nil
	}
	out := httpapi.ProviderResumed{Provider: provider, WasHalted: res.Was != nil, Requeued: res.Requeued}
	if res.Was != nil {
		out.Reason, out.Since = res.Was.Reason, &res.Was.Since
	}
	return out, err
}

// shortWait bounds one-shot Redis and IdP calls of the command line.
const shortWait = 30 * time.Second
