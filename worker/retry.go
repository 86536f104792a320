package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/tasks"
)

// This file maps what the handler decided to what Asynq sees: the errors
// it returns, which of them count against the retries (IsFailure), and
// when a retry runs (RetryDelayFunc), and what an error the handler did
// not return means for the task (ErrorHandler).

// retry ends an attempt whose budget is spent with a retryable error: the
// task goes back to its queue. On the last try Asynq archives the task
// whatever the error, so there a failure ends the task failed, and a wait
// for a rate limit puts the archived task on the waitlist, which returns it
// to its queue when the wait is over.
func (s *Server) retry(ctx context.Context, prov *provider, t *task, d Decision) error {
	rerr := &retryError{reason: d.Reason, retryAfter: d.RetryAfter, err: d.Err, notFailure: d.Wait}
	if !t.final() {
		return rerr
	}
	if ctx.Err() != nil {
		// The task's own context ended: a shutdown ran out of time and
		// Asynq put the task back, or Asynq ends it itself (deadline,
		// lost lease) through handleError. An outcome here would be a
		// second one.
		return ctx.Err()
	}
	if rerr.notFailure {
		at := time.Now().Add(s.retryDelay(t.retried, rerr, nil))
		if err := s.waitlist.Add(context.WithoutCancel(ctx), t.queue, t.id, at); err != nil {
			s.log.Error("could not list a task archived while it waits for a rate limit; it stays archived",
				"task_id", t.id, "provider", prov.Name, "error", err)
		}
		return rerr
	}
	if d.Err.Kind == idp.MailFailed {
		s.forgetMail(ctx, prov, t)
	}
	return s.finish(ctx, t, prov.Name, tasks.Failed, tasks.ReasonRetriesExhausted, d.Err.Error())
}

// retryError is returned to Asynq when an attempt ends with an error worth
// retrying. RetryAfter is how long the IdP asked us to wait.
type retryError struct {
	reason     string
	retryAfter time.Duration
	err        error
	// notFailure marks rate-limit waits: they do not use up retries.
	notFailure bool
}

func (e *retryError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// haltError is returned for a task whose provider is halted. The task keeps
// its retries and waits in its paused queue.
type haltError struct {
	provider, reason string
}

func (e *haltError) Error() string {
	return fmt.Sprintf("%s: %s (%s); the task waits for `resetq provider resume %s`",
		haltMarker, e.provider, e.reason, e.provider)
}

// finalError is returned for a task that ended failed, its outcome
// recorded: Asynq archives it and nothing else needs doing.
type finalError struct {
	reason string
	msg    string
}

func (e *finalError) Error() string { return e.reason + ": " + e.msg }
func (e *finalError) Unwrap() error { return asynq.SkipRetry }

// isFailure tells Asynq which errors count against a task's retries.
func isFailure(err error) bool {
	var h *haltError
	if errors.As(err, &h) {
		return false
	}
	var r *retryError
	if errors.As(err, &r) && r.notFailure {
		return false
	}
	return true
}

// backoff is the wait before retry n across attempts: base·2ⁿ capped, with
// ±20 % jitter so tasks that failed together do not retry together.
func backoff(n int, base, limit time.Duration) time.Duration {
	d := base
	for i := 0; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return jitter(d, 0.2)
}

func jitter(d time.Duration, frac float64) time.Duration {
	if d <= 0 {
		return d
	}
	f := 1 + frac*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}

// retryDelay is Asynq's RetryDelayFunc: the backoff, or the IdP's
// Retry-After when that is longer; a halted task comes back almost at once
// (its queue is paused, so it waits there for the resume).
func (s *Server) retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var h *haltError
	if errors.As(err, &h) {
		return time.Second
	}
	d := backoff(n, s.cfg.RetryBase, s.cfg.RetryCap)
	var r *retryError
	if errors.As(err, &r) && r.retryAfter > 0 {
		// Asynq keeps retry times in whole seconds and can run a retry up to
		// a second early: the extra second keeps Retry-After honoured.
		wait := r.retryAfter + time.Second
		if r.notFailure {
			// A wait for a rate limit: as long as asked, plus a little
			// spread so the waiters do not come back at once.
			return wait + time.Duration(rand.Int64N(int64(r.retryAfter/10)+1))
		}
		d = max(d, wait)
	}
	return d
}

// handleError is Asynq's ErrorHandler. Errors the handler did not classify
// (a timeout, a lost lease, a panic) end the task as failed when they come
// on its last try, so every task still ends in exactly one outcome.
func (s *Server) handleError(ctx context.Context, at *asynq.Task, err error) {
	var fe *finalError
	if errors.As(err, &fe) || !isFailure(err) {
		return // an outcome is recorded, or the task waits
	}
	t := s.newTask(ctx)
	if !t.final() {
		s.log.Debug("reset attempt will be retried", "task_id", t.id, "queue", t.queue, "attempt", t.attempts(), "error", err)
		return
	}
	provider := tasks.ProviderOfQueue(t.queue)
	if p, perr := tasks.Decode(at.Payload()); perr == nil {
		t.payload, provider = p, p.Provider
		if ok, err := s.bind(ctx, t, at); !ok {
			s.log.Error("the campaign of a task whose retries ran out cannot be read; its row stays queued",
				"task_id", t.id, "campaign", p.Campaign, "error", err)
			return
		}
	}
	msg := err.Error()
	if asynq.IsPanicError(err) {
		msg = "the handler panicked: " + msg
	}
	_ = s.finish(ctx, t, provider, tasks.Failed, tasks.ReasonRetriesExhausted, msg)
}
