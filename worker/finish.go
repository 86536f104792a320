package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/resetq/resetq/internal/audit"
	"github.com/resetq/resetq/internal/deploysecret"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/webhook"
)

// finish records a task's outcome, counts it, logs it, and tells Asynq what
// to do: nothing more for succeeded and skipped (a skip is no failure: the
// task completes, its outcome and reason in resetq's record), archive for
// failed.
func (s *Server) finish(ctx context.Context, t *task, provider string, o tasks.Outcome, reason, msg string) error {
	r := tasks.Result{TaskID: t.id, Provider: provider, Outcome: o, Reason: reason, Error: msg,
		Attempts: t.attempts(), FinishedAt: time.Now().UTC()}
	if t.payload != nil {
		r.Campaign, r.Requester = t.payload.Campaign, t.payload.Requester
	}
	// The record must outlive a canceled task context: for a success it is
	// the only thing that stops a second email.
	if err := t.rec.Record(context.WithoutCancel(ctx), r); err != nil {
		s.log.Error("could not record the outcome; a redelivery of this task may repeat the reset",
			"task_id", t.id, "provider", provider, "outcome", o, "error", err)
	}
	s.m.Resets.WithLabelValues(provider, string(o), reason).Inc()
	s.m.ResetDuration.WithLabelValues(provider, string(o)).Observe(time.Since(t.start).Seconds())

	attrs := []any{"task_id", t.id, "provider", provider, "outcome", o, "attempt", t.attempts(),
		"duration", time.Since(t.start).Round(time.Millisecond)}
	if reason != "" {
		attrs = append(attrs, "reason", reason)
	}
	user := ""
	if t.payload != nil {
		user = s.userHash(ctx, t.payload.User)
		if s.cfg.LogUser {
			user = t.payload.User.String()
		}
		attrs = append(attrs, "user", user, "requester", t.payload.Requester.String())
		if t.payload.Campaign != "" {
			attrs = append(attrs, "campaign", t.payload.Campaign)
		}
	}
	switch {
	case o == tasks.Failed && reason == tasks.ReasonInvalidPayload:
		// The message quotes the payload, which can hold an address; it
		// stays on the archived task, out of the logs.
		s.log.Warn("reset failed", attrs...)
	case o == tasks.Failed:
		s.log.Warn("reset failed", append(attrs, "error", msg)...)
	case reason == tasks.ReasonUnconfirmed:
		s.log.Warn("reset sent, unconfirmed: its answer never came and the IdP may have sent the mail, so it is not sent again",
			append(attrs, "error", msg)...)
	default:
		s.log.Info("reset "+string(o), attrs...)
	}
	s.audit(ctx, r, user)
	if err := s.emit(ctx, t, r); err != nil {
		return err
	}
	if o != tasks.Failed {
		return nil
	}
	return &finalError{reason: reason, msg: msg}
}

// audit records the outcome in the audit trail, in the name of who asked
// for the reset (the worker's, for a task queued before requesters were
// recorded). A trail that cannot be written is logged, not retried: the
// outcome itself is recorded already.
func (s *Server) audit(ctx context.Context, r tasks.Result, user string) {
	who := r.Requester
	if who.Actor == "" {
		who = audit.Worker
	}
	rec := audit.Record{Actor: who.Actor, Address: who.Address, Action: "reset.outcome", Target: "task:" + r.TaskID,
		Result: string(r.Outcome), Reason: r.Reason, TaskID: r.TaskID, Provider: r.Provider, Campaign: r.Campaign, User: user}
	if err := s.cfg.Audit.Append(context.WithoutCancel(ctx), rec); err != nil {
		s.log.Error("could not write the outcome to the audit trail", "task_id", r.TaskID, "error", err)
	}
}

// emit queues the outcome's event. When that fails the task is retried,
// and the retry queues it again.
func (s *Server) emit(ctx context.Context, t *task, r tasks.Result) error {
	if s.cfg.Webhooks == nil || t.payload == nil {
		return nil // a payload that cannot be read has no user to tell about
	}
	err := s.cfg.Webhooks.Emit(context.WithoutCancel(ctx), webhook.ResetEvent(r, t.payload.User, t.payload.Meta))
	if err != nil {
		s.log.Warn("could not queue the outcome's webhook event; the task will be retried to queue it",
			"task_id", t.id, "outcome", r.Outcome, "error", err)
		return fmt.Errorf("queuing the %s event: %w", r.Outcome, err)
	}
	return nil
}

// userHash names a user in logs without naming them: the same user always
// gets the same short hash, keyed with the deployment's secret so that a
// list of known addresses cannot be hashed to find who is who.
func (s *Server) userHash(ctx context.Context, u tasks.User) string {
	secret, err := s.secret.Get(ctx)
	if err != nil {
		return u.Kind() + ":?" // the secret is loaded at Start; this is a lost Redis
	}
	return userHash(deploysecret.Derive(secret, deploysecret.LogUsers), u)
}

func userHash(key []byte, u tasks.User) string { return audit.UserRef(key, false, u) }
