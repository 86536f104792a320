package main

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/console"
	"github.com/resetq/resetq/producer/httpapi"
	"github.com/resetq/resetq/tasks"
)

// consoleSource is the console's view of resetq: the configuration, the
// halt service (as the API uses it) and Asynq's queues.
type consoleSource struct {
	cfg   *config.Config
	halts apiHalts
	insp  *asynq.Inspector
}

func newConsoleSource(cfg *config.Config, rdb redis.UniversalClient, halts apiHalts) *consoleSource {
	return &consoleSource{cfg: cfg, halts: halts, insp: asynq.NewInspectorFromRedisClient(rdb)}
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

func (s *consoleSource) Check(ctx context.Context, provider string) (console.Checked, error) {
	p := s.cfg.Provider(provider)
	if p == nil {
		return console.Checked{}, console.ErrUnknownProvider
	}
	out, err := checkProvider(ctx, p)
	if err != nil {
		return console.Checked{}, err
	}
	c := console.Checked{OK: out.OK, Lines: out.Lines, Warnings: out.Warnings, Hint: out.Fix}
	if !out.OK {
		c.Problem = strings.TrimSpace(out.Reason + ": " + out.Problem)
	}
	return c, nil
}
