package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/listener"
	"github.com/resetq/resetq/internal/version"
	"github.com/resetq/resetq/producer"
)

func newAPICmd(g *global) *cobra.Command {
	return &cobra.Command{
		Use:   "api",
		Short: "Serve the HTTP producer API (/v1/resets, /v1/campaigns)",
		Long: "Serve the HTTP producer API on api.listen: applications in any language ask for resets\n" +
			"and run campaigns through it, with the bearer tokens of api.tokens. docs/openapi.yaml describes it.\n" +
			"Run it behind a TLS-terminating proxy when it listens beyond this machine.",
		Args: cobra.NoArgs,
		RunE: g.serve(runAPI),
	}
}

// redisReadiness reports whether Redis answers, for /readyz.
type redisReadiness struct{ rdb redis.UniversalClient }

func (r redisReadiness) Readiness(ctx context.Context) (bool, map[string]string) {
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		return false, map[string]string{"redis": "unreachable: " + err.Error()}
	}
	return true, map[string]string{"redis": "ok"}
}

func runAPI(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, log *slog.Logger) error {
	l, err := startAPI(cfg, rdb, log, listener.Limits{})
	if err != nil {
		return err
	}
	v, rev, _ := version.Info()
	log.Info("resetq api started", "version", v, "revision", rev, "listen", l.Addr, "tokens", len(cfg.API.Tokens))
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.Shutdown(sctx); err != nil && err != http.ErrServerClosed {
		log.Warn("api shutdown", "error", err)
	}
	log.Info("resetq api stopped")
	return nil
}

// startAPI serves the API on api.listen within limits (a zero field takes
// its default; tests shorten them).
func startAPI(cfg *config.Config, rdb redis.UniversalClient, log *slog.Logger, limits listener.Limits) (*listener.Server, error) {
	client, err := producer.NewClient(producerConfig(cfg, rdb))
	if err != nil {
		return nil, failErr(err)
	}
	api, err := newAPI(cfg, rdb, client, log)
	if err != nil {
		return nil, err
	}
	reg, _ := newRegistry()
	opts := listener.Options{Gatherer: reg, Readiness: redisReadiness{rdb}, API: api, Auth: listenerAuth(cfg.HTTP),
		Hosts: uiHosts(config.HTTP{Listen: cfg.API.Listen, AllowedHosts: cfg.HTTP.AllowedHosts})}
	// The console too, where it is not open to the network without the
	// operator's credentials.
	if a := cfg.HTTP.Auth; a.Token != "" || a.Username != "" || config.IsLoopback(cfg.API.Listen) {
		wh, err := newWebhooks(cfg, rdb, nil, log)
		if err != nil {
			return nil, err
		}
		opts.Console = newConsole(cfg, rdb, client, wh, nil, log)
		opts.ConsoleMaxBody = int64(cfg.API.MaxUploadMB) << 20
	}
	h := listener.Handler(opts)
	l, err := listener.Start(cfg.API.Listen, h, limits)
	if err != nil {
		return nil, failErr(fmt.Errorf("api.listen %s: %w", cfg.API.Listen, err))
	}
	return l, nil
}
