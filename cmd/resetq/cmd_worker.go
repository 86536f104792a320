package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/listener"
	"github.com/resetq/resetq/internal/metrics"
	"github.com/resetq/resetq/internal/version"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/worker"
)

func newWorkerCmd(g *global) *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run the workers and the HTTP listener (/metrics, /healthz, /readyz)",
		Args:  cobra.NoArgs,
		RunE:  g.serve(runWorker),
	}
}

// serve is the RunE of a long-running command: it loads the configuration,
// sets up logging and Redis, and runs until the command's context ends.
func (g *global) serve(run func(context.Context, *config.Config, redis.UniversalClient, *slog.Logger) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		cfg, err := g.loadConfig()
		if err != nil {
			return err
		}
		log := newLogger(cfg.Log, g.stderr)
		redis.SetLogger(redisLogger{log})
		rdb, err := openRedis(cfg)
		if err != nil {
			return err
		}
		defer rdb.Close()
		return run(cmd.Context(), cfg, rdb, log)
	}
}

// runningWorker is a worker with its listener, as `resetq worker` and
// `resetq dev` run it.
type runningWorker struct {
	*worker.Server
	listener   *listener.Server
	registry   *prometheus.Registry
	ui         *asynqmon.HTTPHandler
	client     *producer.Client
	feeder     *campaigns.Feeder
	stopFeeder func()
	// release gives back what the providers hold at their IdPs (minted
	// Keygen tokens), once no reset runs.
	release func()
}

func startWorker(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, log *slog.Logger) (*runningWorker, error) {
	return startWorkerWithin(ctx, cfg, rdb, log, listener.Limits{})
}

// startWorkerWithin starts a worker whose listener runs within limits (a
// zero field takes its default; tests shorten them).
func startWorkerWithin(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, log *slog.Logger, limits listener.Limits) (*runningWorker, error) {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		return nil, failErr(fmt.Errorf("cannot reach Redis at %s: %w", redisWhere(cfg), err))
	}
	reg, m := newRegistry()
	wc, err := workerConfig(cfg, rdb, m, log)
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return nil, err
		}
		return nil, usageErr("%v", err)
	}
	if *cfg.HTTP.QueueMetrics {
		reg.MustRegister(metrics.NewQueueCollector(rdb, queuesOf(cfg)), metrics.NewCampaignCollector(rdb))
	}
	w, err := worker.New(wc)
	if err != nil {
		return nil, failErr(err)
	}
	client, err := producer.NewClient(producerConfig(cfg, rdb))
	if err != nil {
		return nil, failErr(err)
	}
	opts := listener.Options{Gatherer: reg, Readiness: w, Auth: listenerAuth(cfg.HTTP), Hosts: uiHosts(cfg.HTTP)}
	if *cfg.HTTP.UI {
		// The console serves its pages beside the queue UI, behind the
		// same guard; resuming is the halt service's, as for the API.
		opts.Console = newConsole(cfg, rdb, client, wc.Webhooks, reg, log)
		opts.ConsoleMaxBody = int64(cfg.API.MaxUploadMB) << 20
	}
	if cfg.API.InWorker {
		api, err := newAPI(cfg, rdb, client, log)
		if err != nil {
			return nil, err
		}
		opts.API = api
	}
	var ui *asynqmon.HTTPHandler
	if *cfg.HTTP.UI {
		conn, err := asynqConn(cfg)
		if err != nil {
			return nil, usageErr("redis.url: %v", err)
		}
		ui = asynqmon.New(asynqmon.Options{RootPath: "/ui", RedisConnOpt: conn, ReadOnly: *cfg.HTTP.UIReadOnly,
			PayloadFormatter: uiPayloadFormatter(cfg.Log.IncludeUser)})
		// Served without the internet; its feedback link leads to the
		// console, which is served whenever the UI is.
		opts.UI = offlineUI(ui, "/console/")
	}
	if err := w.Start(); err != nil {
		return nil, failErr(err)
	}
	l, err := listener.Start(cfg.HTTP.Listen, listener.Handler(opts), limits)
	if err != nil {
		w.Shutdown()
		releaseProviders(wc.Providers, log)
		return nil, failErr(fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err))
	}
	// Every worker feeds campaigns: a lease gives each campaign to one
	// process at a time, and another takes over when it dies.
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	fed := make(chan struct{})
	feeder := campaigns.NewManager(campaignsConfig(cfg, rdb)).NewFeeder(feederConfig(cfg, wc.Webhooks, log))
	go func() { defer close(fed); feeder.Run(fctx) }()
	return &runningWorker{Server: w, listener: l, registry: reg, ui: ui, client: client, feeder: feeder,
		stopFeeder: func() { cancel(); <-fed }, release: func() { releaseProviders(wc.Providers, log) }}, nil
}

// releaseProviders revokes what the providers hold at their IdPs, such as
// a Keygen token minted at start-up, so that a stopped worker leaves no
// credential behind.
func releaseProviders(ps []worker.Provider, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range ps {
		if r, ok := p.IdP.(idp.Releaser); ok {
			if err := r.Release(ctx); err != nil {
				log.Warn("could not give back what the provider holds at its IdP", "provider", p.Name, "error", err)
			}
		}
	}
}

// queuesOf lists the queues a configuration uses.
// listenerAuth is http.auth (the operator) and http.viewers.
func listenerAuth(h config.HTTP) listener.Auth {
	a := listener.Auth{Token: h.Auth.Token, Username: h.Auth.Username, Password: h.Auth.Password}
	for _, v := range h.Viewers {
		a.Viewers = append(a.Viewers, listener.Credential{Name: v.Name, Token: v.Token, Username: v.Username, Password: v.Password})
	}
	return a
}

func queuesOf(cfg *config.Config) []string {
	var qs []string
	for _, p := range cfg.Providers {
		qs = append(qs, tasks.Queues(p.Name)...)
	}
	if len(cfg.Webhooks.Endpoints) > 0 {
		qs = append(qs, tasks.WebhookQueueName)
	}
	return qs
}

func (r *runningWorker) stop() {
	r.stopFeeder()
	r.Shutdown()
	r.release()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.listener.Shutdown(ctx)
	if r.ui != nil {
		_ = r.ui.Close()
	}
}

func runWorker(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, log *slog.Logger) error {
	w, err := startWorker(ctx, cfg, rdb, log)
	if err != nil {
		return err
	}
	v, rev, _ := version.Info()
	log.Info("resetq worker started", "version", v, "revision", rev, "providers", cfg.ProviderNames(),
		"concurrency", cfg.Worker.Concurrency, "listen", w.listener.Addr)
	<-ctx.Done()
	log.Info("shutting down: finishing resets in flight", "timeout", cfg.Worker.ShutdownTimeout)
	w.stop()
	log.Info("resetq worker stopped")
	return nil
}
