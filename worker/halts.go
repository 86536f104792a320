package worker

import (
	"context"
	"errors"
	"time"

	"github.com/resetq/resetq/internal/halt"
)

// halt stops a provider: the halt service records it (the process that
// halts it first logs it and emits provider.halted), and the task goes back
// to wait for the resume. A halt asked for under a generation that a resume
// has ended is refused with halt.ErrSuperseded: the attempt started before
// the operator resumed, and this process does not stop the provider.
func (s *Server) halt(ctx context.Context, prov *provider, generation int64, d Decision) error {
	st := halt.State{Provider: prov.Name, Reason: d.Reason, Hint: d.Err.Hint, Message: d.Err.Error(),
		Since: time.Now().UTC(), Generation: generation}
	// This process stops sending at once, before Redis answers.
	r := prov.halt.Raise()
	_, err := s.halts.Halt(context.WithoutCancel(ctx), st)
	superseded := errors.Is(err, halt.ErrSuperseded)
	prov.halt.Done(r, superseded)
	if superseded {
		return err
	}
	if err != nil {
		s.log.Error("could not record the halt in Redis; this process stops the provider's work anyway",
			"provider", prov.Name, "error", err)
	}
	s.m.ProviderHalted.WithLabelValues(prov.Name).Set(1)
	return &haltError{provider: prov.Name, reason: d.Reason}
}

// stillHalted asks Redis whether a provider this process believes halted
// still is: a resume elsewhere must take effect at once, not at the next
// sync, or the first tasks after it would be sent back to wait again.
func (s *Server) stillHalted(ctx context.Context, p *provider) bool {
	before := p.halt.BeforeRead()
	statuses, err := s.halts.Statuses(ctx, []string{p.Name})
	if err != nil {
		return true
	}
	s.note(p, statuses[p.Name], before)
	return p.halt.Halted()
}

// syncHalts reads every provider's halt state and generation from Redis,
// where other processes and resumes change them.
func (s *Server) syncHalts(ctx context.Context) error {
	before := make(map[string]int, len(s.order))
	for _, name := range s.order {
		before[name] = s.providers[name].halt.BeforeRead()
	}
	statuses, err := s.halts.Statuses(ctx, s.order)
	if err != nil {
		return err
	}
	for name, st := range statuses {
		s.note(s.providers[name], st, before[name])
	}
	return nil
}

// note keeps what Redis said of a provider's halt (halt.Flag.Settle) and
// publishes it.
func (s *Server) note(p *provider, st halt.Status, before int) {
	halted, resumed := p.halt.Settle(st, before)
	if resumed {
		s.log.Info("provider resumed; its queue runs again", "provider", p.Name)
	}
	v := 0.0
	if halted {
		v = 1
	}
	s.m.ProviderHalted.WithLabelValues(p.Name).Set(v)
}

// currentGeneration reads the provider's generation from Redis, past the
// copy the sync keeps, and keeps it.
func (s *Server) currentGeneration(ctx context.Context, p *provider) (int64, error) {
	gen, err := s.halts.Generation(ctx, p.Name)
	if err == nil {
		p.halt.KeepGeneration(gen)
	}
	return gen, err
}

func (s *Server) syncLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.syncHalts(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("could not read provider halt state from Redis", "error", err)
			}
			s.syncWebhookState(ctx)
			if _, err := s.waitlist.Release(ctx, time.Now()); err != nil && ctx.Err() == nil {
				s.log.Warn("could not put back the tasks that waited for a rate limit", "error", err)
			}
		}
	}
}

// syncWebhookState publishes which webhook endpoints are disabled.
func (s *Server) syncWebhookState(ctx context.Context) {
	wh := s.cfg.Webhooks
	if wh == nil {
		return
	}
	for _, e := range wh.Endpoints() {
		off, err := wh.States().Disabled(ctx, e.Name)
		if err != nil {
			return
		}
		v := 0.0
		if off {
			v = 1
		}
		s.m.WebhookEndpointDisabled.WithLabelValues(e.Name).Set(v)
	}
}
