package halt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/internal/audit"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/webhook"
)

// Emitter queues webhook events; *webhook.Webhooks is one.
type Emitter interface {
	Emit(ctx context.Context, e webhook.Event) error
}

// ErrEventNotQueued is wrapped by what Service.Resume returns when the
// provider resumed but its provider.resumed event could not be queued.
var ErrEventNotQueued = errors.New("the event could not be queued")

// Service halts and resumes providers and tells about it: the record and
// the paused queues (Registry), one log line and one webhook event for
// each halt and each resume, emitted by the caller that made the change.
// The worker, the CLI and the HTTP API all go through it.
type Service struct {
	*Registry
	// Audit keeps each halt and each resume in the audit trail, with who
	// resumed (audit.ActorOf the context); nil keeps none.
	Audit  *audit.Trail
	events Emitter
	log    *slog.Logger
	now    func() time.Time
}

// NewService returns a Service on rdb. events may be nil (no events), and
// so may log.
func NewService(rdb redis.UniversalClient, events Emitter, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{Registry: New(rdb), events: events, log: log, now: time.Now}
}

// Halt records the halt and pauses the provider's queues (Registry.Halt).
// The caller that halted it first logs it and emits provider.halted; an
// event that cannot be queued is logged, and the halt stands.
func (s *Service) Halt(ctx context.Context, st State) (first bool, err error) {
	first, err = s.Registry.Halt(ctx, st)
	if !first {
		return first, err
	}
	s.record(ctx, audit.Record{Actor: audit.Worker.Actor, Action: "provider.halt", Target: "provider:" + st.Provider,
		Result: "halted", Reason: st.Reason, Provider: st.Provider})
	s.log.Error("provider halted: "+st.Hint+"; its tasks wait in the paused queue. When fixed, run: resetq provider resume "+st.Provider,
		"provider", st.Provider, "reason", st.Reason, "error", st.Message)
	if s.events != nil {
		if eerr := s.events.Emit(context.WithoutCancel(ctx), webhook.HaltEvent(st.Provider, st.Reason, st.Hint, st.Since)); eerr != nil {
			s.log.Warn("could not queue the provider.halted event", "provider", st.Provider, "error", eerr)
		}
	}
	return first, err
}

// Resume lifts the halt (Registry.Resume). The one caller that lifted it
// logs it and emits provider.resumed; when the event cannot be queued the
// provider is resumed all the same and the error wraps ErrEventNotQueued.
func (s *Service) Resume(ctx context.Context, provider string) (Resumed, error) {
	res, err := s.Registry.Resume(ctx, provider)
	who := audit.ActorOf(ctx, tasks.Requester{Actor: "unknown"})
	rec := audit.Record{Actor: who.Actor, Address: who.Address, Action: "provider.resume", Target: "provider:" + provider,
		Result: "ok", Provider: provider}
	switch {
	case err != nil:
		rec.Result, rec.Reason = "failed", err.Error()
	case res.Was == nil:
		rec.Reason = "it was not halted"
	default:
		rec.Reason = fmt.Sprintf("halted since %s (%s); %d task(s) requeued", res.Was.Since.UTC().Format(time.RFC3339), res.Was.Reason, res.Requeued)
	}
	s.record(ctx, rec)
	if err != nil || res.Was == nil {
		return res, err
	}
	s.log.Info("provider resumed", "provider", provider, "reason", res.Was.Reason, "requeued", res.Requeued)
	if s.events == nil {
		return res, nil
	}
	ev := webhook.ResumeEvent(provider, res.Was.Reason, res.Was.Since, res.Requeued, s.now())
	if err := s.events.Emit(context.WithoutCancel(ctx), ev); err != nil {
		return res, fmt.Errorf("provider %s resumed, but %w: %w", provider, ErrEventNotQueued, err)
	}
	return res, nil
}

// record appends to the audit trail; a trail that cannot be written is
// logged, and what was done stands.
func (s *Service) record(ctx context.Context, r audit.Record) {
	if err := s.Audit.Append(context.WithoutCancel(ctx), r); err != nil {
		s.log.Error("could not write to the audit trail", "action", r.Action, "target", r.Target, "error", err)
	}
}
