package worker

import (
	"context"
	"errors"
	"time"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/internal/halt"
)

// checkProviders runs each provider's start-up check: a token and a
// harmless read. A check that fails the way a halt would (bad secret,
// missing role) halts the provider before any task is spent on it; one that
// cannot reach the IdP is tried again until it passes.
func (s *Server) checkProviders(ctx context.Context) {
	pending := map[string]bool{}
	for _, name := range s.order {
		pending[name] = true
	}
	t := time.NewTicker(10 * s.cfg.SyncInterval)
	defer t.Stop()
	for len(pending) > 0 {
		for name := range pending {
			if s.checkProvider(ctx, s.providers[name]) {
				delete(pending, name)
			}
		}
		if len(pending) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) checkProvider(ctx context.Context, p *provider) (done bool) {
	checker, ok := p.IdP.(idp.Checker)
	if !ok {
		p.check.Store(int32(checkPassed))
		return true
	}
	generation := p.halt.Generation()
	cctx, cancel := context.WithTimeout(ctx, p.AttemptTimeout)
	defer cancel()
	_, err := checker.Check(cctx)
	if err == nil {
		p.check.Store(int32(checkPassed))
		if p.halt.Halted() {
			st, _ := s.halts.Get(ctx, p.Name)
			reason := "unknown"
			if st != nil {
				reason = st.Reason
			}
			s.log.Warn("provider is halted, but its check passes now: if the cause is fixed, run: resetq provider resume "+p.Name,
				"provider", p.Name, "reason", reason)
		} else {
			s.log.Info("provider check passed", "provider", p.Name)
		}
		return true
	}
	d := Classify(err)
	if d.Action == Halt {
		if !p.halt.Halted() && errors.Is(s.halt(ctx, p, generation, d), halt.ErrSuperseded) {
			return false // checked across a resume: check again
		}
		p.check.Store(int32(checkHalted))
		return true
	}
	p.checkMu.Lock()
	p.lastErr = d.Err.Error()
	p.checkMu.Unlock()
	if ctx.Err() == nil {
		s.log.Warn("provider check could not reach the IdP; trying again", "provider", p.Name, "error", d.Err.Error())
	}
	return false
}
