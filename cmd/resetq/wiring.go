package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/metrics"
	"github.com/resetq/resetq/internal/version"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/worker"
)

func (g *global) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(g.config)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return cfg, nil
}

// openRedis connects to the Redis a configuration names. Every part of
// resetq in the process shares the one client.
func openRedis(url string) (redis.UniversalClient, error) {
	opt, err := asynq.ParseRedisURI(url)
	if err != nil {
		return nil, usageErr("redis.url: %v", err)
	}
	c, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, usageErr("redis.url: unsupported connection type")
	}
	return c, nil
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

// httpClient returns the HTTP client of one provider: pooled connections
// enough for the worker's concurrency, instrumented for metrics.
func httpClient(provider string, concurrency int, m *metrics.Metrics) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(concurrency, 2)
	t.ResponseHeaderTimeout = 0 // bounded per call by the provider's timeout
	var rt http.RoundTripper = t
	if m != nil {
		rt = m.Transport(provider, t)
	}
	return &http.Client{Transport: rt}
}

// buildIdP is the one place a configured provider becomes a concrete one.
func buildIdP(p config.Provider, client *http.Client) (idp.Provider, error) {
	switch p.Type {
	case config.TypeKeycloak:
		return keycloak.New(keycloak.Config{
			BaseURL: p.BaseURL, Realm: p.Realm,
			Grant: p.Auth.Grant, TokenRealm: p.Auth.Realm,
			ClientID: p.Auth.ClientID, ClientSecret: p.Auth.ClientSecret,
			Username: p.Auth.Username, Password: p.Auth.Password,
			Actions:  p.Actions,
			Lifespan: p.Link.Lifespan, LinkClientID: p.Link.ClientID, RedirectURI: p.Link.RedirectURI,
			Timeout: p.Timeout, HTTPClient: client, UserAgent: version.UserAgent(),
		})
	}
	return nil, fmt.Errorf("provider %s: unsupported type %q", p.Name, p.Type)
}

// workerConfig turns the configuration into the worker's.
func workerConfig(cfg *config.Config, rdb redis.UniversalClient, m *metrics.Metrics, log *slog.Logger) (worker.Config, error) {
	wc := worker.Config{
		Redis: rdb, Concurrency: cfg.Worker.Concurrency, ShutdownTimeout: cfg.Worker.ShutdownTimeout,
		PollInterval: cfg.Worker.PollInterval, OutcomeRetention: cfg.Worker.OutcomeRetention,
		Metrics: m, Logger: log,
	}
	for _, p := range cfg.Providers {
		ip, err := buildIdP(p, httpClient(p.Name, cfg.Worker.Concurrency, m))
		if err != nil {
			return wc, err
		}
		wc.Providers = append(wc.Providers, worker.Provider{
			Name: p.Name, IdP: ip, AttemptTimeout: p.AttemptTimeout,
			RateCount: p.RateLimit.N, RatePeriod: p.RateLimit.Per,
		})
	}
	return wc, nil
}

// producerConfig turns the configuration into the producer's.
func producerConfig(cfg *config.Config, rdb redis.UniversalClient) producer.Config {
	pc := producer.Config{Redis: rdb, OutcomeRetention: cfg.Worker.OutcomeRetention}
	for _, p := range cfg.Providers {
		pc.Providers = append(pc.Providers, producer.Provider{
			Name: p.Name, Type: p.Type, MaxRetries: *p.MaxRetries, AttemptTimeout: p.AttemptTimeout,
		})
	}
	return pc
}

// shortWait bounds one-shot Redis and IdP calls of the command line.
const shortWait = 30 * time.Second
