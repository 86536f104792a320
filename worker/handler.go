package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/sethvargo/go-retry"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/internal/ratelimit"
	"github.com/resetq/resetq/internal/recording"
	"github.com/resetq/resetq/tasks"
)

// task is what the handler knows about the task it runs.
type task struct {
	id, queue string
	retried   int
	maxRetry  int
	start     time.Time
	payload   *tasks.Payload
	// rec keeps the task's outcome: its own record, or its campaign row.
	rec recording.Recorder
	// rules are the rate limits the task is under besides its provider's:
	// its campaign's.
	rules []ratelimit.Rule
	// generation is the provider's halt generation the task started
	// under: a halt it asks for after a resume is not recorded.
	generation int64
}

func (t *task) attempts() int { return t.retried + 1 }
func (t *task) final() bool   { return t.retried >= t.maxRetry }

// newTask reads what Asynq says of the task in hand. Its outcome goes to
// its own record until bind finds it a campaign row.
func (s *Server) newTask(ctx context.Context) *task {
	t := &task{start: time.Now()}
	t.id, _ = asynq.GetTaskID(ctx)
	t.queue, _ = asynq.GetQueueName(ctx)
	t.retried, _ = asynq.GetRetryCount(ctx)
	t.maxRetry, _ = asynq.GetMaxRetry(ctx)
	t.rec = s.books.Task(t.id)
	return t
}

// handle runs one reset task.
func (s *Server) handle(ctx context.Context, at *asynq.Task) error {
	t := s.newTask(ctx)
	p, err := tasks.Decode(at.Payload())
	if errors.Is(err, tasks.ErrNewerPayload) {
		// Queued by a newer build during a rolling upgrade: not a bad
		// task. It goes back for a worker that reads it (and, if none
		// comes before its retries run out, stays in the archive to run
		// again).
		s.log.Warn("a task written by a newer resetq: upgrade this worker", "task_id", t.id, "error", err)
		return err
	}
	if err != nil {
		return s.finish(ctx, t, tasks.ProviderOfQueue(t.queue), tasks.Failed, tasks.ReasonInvalidPayload, "invalid payload: "+err.Error())
	}
	p.Requester = tasks.RequesterOf(at.Headers())
	t.payload = p
	prov := s.providers[p.Provider]
	if prov == nil || !slices.Contains(tasks.Queues(p.Provider), t.queue) {
		return s.finish(ctx, t, tasks.ProviderOfQueue(t.queue), tasks.Failed, tasks.ReasonUnknownProvider,
			fmt.Sprintf("payload names provider %q, which this worker does not serve on queue %s", p.Provider, t.queue))
	}
	t.generation = prov.halt.Generation()
	if prov.halt.Halted() && s.stillHalted(ctx, prov) {
		return &haltError{provider: prov.Name, reason: "halted"}
	}

	if ok, err := s.bind(ctx, t, at); !ok {
		if err == nil {
			s.log.Warn("the task's campaign no longer exists; dropping the task", "task_id", t.id, "campaign", p.Campaign)
		}
		return err
	}
	// The done-marker: a task with an outcome is not sent again, whatever
	// brought it back (a crash before the acknowledgement, a shutdown that
	// requeued it, a re-enqueue of the same key).
	prev, run, err := t.rec.Start(ctx)
	if err != nil {
		return err
	}
	if prev != nil {
		s.log.Info("the task has an outcome already; not sending it again",
			"task_id", t.id, "provider", prov.Name, "outcome", prev.Outcome, "finished_at", prev.FinishedAt)
		if prev.Outcome == tasks.Succeeded {
			// The event may not have been queued before whatever brought the
			// task back; queuing it again is harmless (same webhook-id).
			return s.emit(ctx, t, *prev)
		}
	}
	if !run {
		return nil
	}

	ok, earlier, since, err := prov.recent.Claim(ctx, p.User, t.id)
	if err != nil {
		return err
	}
	if !ok {
		return s.finish(ctx, t, prov.Name, tasks.Skipped, tasks.ReasonRecentlyReset, fmt.Sprintf(
			"another reset for this user (task %s) was requested %s ago, inside the provider's duplicate window of %s",
			earlier, since.Round(time.Second), prov.recent.Length()))
	}

	d, err := s.attemptUnlessHalted(ctx, prov, t)
	if err != nil {
		return err
	}
	switch d.Action {
	case Done:
		if d.Reason == tasks.ReasonUnconfirmed {
			return s.finish(ctx, t, prov.Name, tasks.Succeeded, d.Reason, d.Err.Error())
		}
		// The record first: until it is written, a crash sends the reset
		// again, so nothing else may stand between the IdP's answer and it.
		err := s.finish(ctx, t, prov.Name, tasks.Succeeded, "", "")
		s.delivered(ctx, prov)
		return err
	case Skip:
		s.release(ctx, prov, t)
		return s.finish(ctx, t, prov.Name, tasks.Skipped, d.Reason, d.Err.Error())
	case Fail:
		s.release(ctx, prov, t)
		return s.finish(ctx, t, prov.Name, tasks.Failed, d.Reason, d.Err.Error())
	}
	return s.retry(ctx, prov, t, d)
}

// bind finds where the task's outcome goes, its own record or its campaign
// row, and the rate limit of its campaign. It reports false, with no error,
// when the campaign no longer exists.
func (s *Server) bind(ctx context.Context, t *task, at *asynq.Task) (ok bool, err error) {
	rec, c, err := s.books.Open(ctx, t.id, t.payload, at.Headers())
	if rec == nil {
		return false, err
	}
	t.rec = rec
	if c != nil && c.RateN > 0 {
		t.rules = []ratelimit.Rule{ratelimit.Campaign(c.ID, c.RateN, c.RatePer)}
	}
	return true, nil
}

// release gives the task's duplicate-window claim back when its reset did
// not go out (the user was not found, the request was refused), so a later
// request for the same user is not skipped for nothing.
func (s *Server) release(ctx context.Context, prov *provider, t *task) {
	if err := prov.recent.Release(context.WithoutCancel(ctx), t.payload.User, t.id); err != nil {
		s.log.Warn("could not release the duplicate-window claim; the next reset of this user may be skipped",
			"task_id", t.id, "provider", prov.Name, "error", err)
	}
}

// attemptUnlessHalted makes the attempt and halts the provider when the
// attempt says so; the halt error is what the task returns then. An
// attempt that started before the operator resumed and fails with the old
// cause does not halt the provider again: it is made once more, under the
// new generation.
func (s *Server) attemptUnlessHalted(ctx context.Context, prov *provider, t *task) (Decision, error) {
	for {
		d := s.attempt(ctx, prov, t)
		if d.parked {
			return d, &haltError{provider: prov.Name, reason: "halted"}
		}
		if d.Action == Retry && d.Err != nil && d.Err.Kind == idp.MailFailed {
			d = s.judgeMail(ctx, prov, t, d)
		}
		if d.Action != Halt {
			return d, nil
		}
		err := s.halt(ctx, prov, t.generation, d)
		if !errors.Is(err, halt.ErrSuperseded) {
			return d, err
		}
		s.log.Info("the provider was resumed since this reset began; trying it again",
			"task_id", t.id, "provider", prov.Name, "reason", d.Reason)
		if t.generation, err = s.currentGeneration(ctx, prov); err != nil {
			return d, err
		}
	}
}

// attempt calls the IdP, retrying transient errors within a budget of half
// the attempt timeout; the other half is the margin for the last call.
func (s *Server) attempt(ctx context.Context, prov *provider, t *task) Decision {
	ctx, cancel := context.WithTimeout(ctx, prov.AttemptTimeout)
	defer cancel()
	deadline := time.Now().Add(prov.AttemptTimeout / 2)
	// The rate limit is taken right before the reset is sent, after any
	// lookup: the IdP sees the pace however long lookups take.
	var paceErr error
	req := idp.Request{TaskID: t.id, Actions: t.payload.Actions, User: idp.UserRef{
		Email: t.payload.User.Email, Username: t.payload.User.Username, ID: t.payload.User.ID},
		Pace: func(ctx context.Context) error {
			paceErr = s.waitForRate(ctx, prov, t)
			return paceErr
		}}

	var last Decision
	exp := retry.WithJitterPercent(20, retry.NewExponential(s.cfg.InAttemptBase))
	b := retry.BackoffFunc(func() (time.Duration, bool) {
		d, _ := exp.Next()
		d = max(d, last.RetryAfter)
		if time.Now().Add(d).After(deadline) {
			return 0, true // does not fit: hand the wait to Asynq
		}
		if last.Wait {
			if d > s.cfg.MaxHold {
				// An IdP that asks for a longer pause gets it without this
				// task holding a worker: it waits in the queue.
				return 0, true
			}
			s.m.RateLimitWait.WithLabelValues(prov.Name).Observe(d.Seconds())
		}
		return d, false
	})
	_ = retry.Do(ctx, b, func(ctx context.Context) error {
		paceErr = nil
		err := prov.reset(ctx, req)
		if errors.Is(err, errHalted) {
			last = Decision{Action: Halt, parked: true}
			return nil
		}
		last = Classify(err)
		if paceErr != nil {
			return nil // a long wait for the rate limit goes back to the queue at once
		}
		if last.Action == Retry && last.Err.Kind != idp.MailFailed {
			// A mail failure goes back to the queue at once: its backoff
			// spaces the evidence judgeMail weighs, and a relay that is
			// down gets no burst of quick retries.
			return retry.RetryableError(last.Err)
		}
		return nil
	})
	if last.Action == Retry && last.Err == nil {
		last.Err = &idp.Error{Kind: idp.Transient, Message: "attempt ended", Err: ctx.Err()}
	}
	return last
}

// errHalted is what reset returns when the provider halted while the reset
// waited for its place at the IdP.
var errHalted = errors.New("the provider halted while the reset waited for its place at the IdP")

// reset calls the IdP once a place at it is free: the provider's
// concurrency bounds the resets at the IdP, not the tasks in hand. A
// provider halted meanwhile is not called.
func (p *provider) reset(ctx context.Context, req idp.Request) error {
	select {
	case p.atIdP <- struct{}{}:
	case <-ctx.Done():
		return &idp.Error{Kind: idp.Transient, Message: "canceled while waiting for a place at the IdP", Err: ctx.Err()}
	}
	defer func() { <-p.atIdP }()
	if p.halt.Halted() {
		return errHalted
	}
	return p.IdP.Reset(ctx, req)
}

// waitForRate takes a slot from each rate limit the task is under: its
// campaign's, then its provider's, both shared by every worker. A short
// wait is slept; a long one returns a RateLimited error so the task goes
// back to its queue instead of holding a worker.
func (s *Server) waitForRate(ctx context.Context, prov *provider, t *task) error {
	waited, err := s.limiter.Wait(ctx, slices.Concat(t.rules, prov.rate)...)
	if waited > 0 {
		s.m.RateLimitWait.WithLabelValues(prov.Name).Observe(waited.Seconds())
	}
	var long *ratelimit.WaitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &long):
		return &idp.Error{Kind: idp.RateLimited, Message: long.Error(), RetryAfter: long.RetryAfter}
	case ctx.Err() != nil:
		return &idp.Error{Kind: idp.Transient, Message: "canceled while waiting for the rate limit", Err: err}
	}
	return &idp.Error{Kind: idp.Transient, Message: "rate limiter unavailable", Err: err}
}
