package producer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/internal/audit"
	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/deploysecret"
	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/internal/outcomes"
	"github.com/resetq/resetq/tasks"
)

// Provider describes one provider the client may enqueue to, with the
// settings it applies to its tasks.
type Provider struct {
	Name string
	// Type is the provider's type ("keycloak", "keygen"), for messages.
	Type string
	// UserRefs are the references the provider can find a user by, as
	// tasks.User.Kind names them ("email", "username", "id"); a request
	// naming its user another way is refused. Empty accepts every kind.
	// cmd/resetq takes them from the provider package's declaration
	// (keycloak.Accepts, keygen.Accepts).
	UserRefs []string
	// MaxRetries is how many times a task is retried across attempts.
	MaxRetries int
	// AttemptTimeout bounds one attempt (0: tasks.DefaultAttemptTimeout);
	// Asynq's task timeout is set tasks.TimeoutGrace above it so the
	// worker's own deadline fires first. Give the worker's value.
	AttemptTimeout time.Duration
	// RateCount resets per RatePeriod is the provider's own rate limit
	// (the worker enforces it); campaigns size their window by it.
	RateCount  int
	RatePeriod time.Duration
}

// taskSettings are the settings the provider's task of this ID carries.
func (p Provider) taskSettings(id string) tasks.TaskSettings {
	return tasks.TaskSettings{ID: id, MaxRetries: p.MaxRetries, AttemptTimeout: p.AttemptTimeout}
}

// accepts reports whether the provider can find a user by a reference of
// this kind.
func (p Provider) accepts(kind string) bool {
	return len(p.UserRefs) == 0 || slices.Contains(p.UserRefs, kind)
}

// emailOnly reports whether the provider finds users by email alone, so
// that a campaign reads only a file's email column.
func (p Provider) emailOnly() bool {
	return slices.Equal(p.UserRefs, []string{"email"})
}

// Config configures a Client.
type Config struct {
	// Redis is where the queues live. The client does not close it.
	Redis     redis.UniversalClient
	Providers []Provider
	// OutcomeRetention is how long outcomes are kept (as the worker's
	// worker.outcome_retention); it only matters to the messages of
	// ErrTaskNotFound. Default 72 h.
	OutcomeRetention time.Duration
	// Name names the application for the audit trail: its resets are
	// requested by "app:<Name>" unless a request (or its context, see
	// WithRequester) says who asked. Default: the program's name.
	Name string
	// Audit keeps every request and campaign action in the audit trail;
	// nil appends them to the trail on Redis and leaves its trimming to
	// resetq's own processes, which pass the configuration's bounds.
	Audit *audit.Trail
	// IncludeUser names users in the audit trail by their reference, as
	// log.include_user does in the logs; by default a keyed hash stands for
	// them.
	IncludeUser bool
}

// WithRequester says who asks for everything done with ctx: the resets it
// enqueues, the campaigns it starts, pauses, resumes or cancels and the
// reports it reads, in the audit trail and in each reset's outcome.
func WithRequester(ctx context.Context, who tasks.Requester) context.Context {
	return audit.WithActor(ctx, who)
}

// Client enqueues resets. It is safe for concurrent use.
type Client struct {
	rdb       redis.UniversalClient
	asynq     *asynq.Client
	insp      *asynq.Inspector
	outcomes  *outcomes.Store
	campaigns *campaigns.Manager
	halts     *halt.Registry
	secret    *deploysecret.Source
	providers map[string]Provider
	// requester is who asks when a request does not say.
	requester   tasks.Requester
	audit       *audit.Trail
	includeUser bool
}

// NewClient checks cfg and returns a Client. It does not touch Redis.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Redis == nil {
		return nil, errors.New("producer: Config.Redis is required")
	}
	if cfg.OutcomeRetention <= 0 {
		cfg.OutcomeRetention = 72 * time.Hour
	}
	c := &Client{
		rdb:       cfg.Redis,
		asynq:     asynq.NewClientFromRedisClient(cfg.Redis),
		insp:      asynq.NewInspectorFromRedisClient(cfg.Redis),
		outcomes:  outcomes.New(cfg.Redis, cfg.OutcomeRetention),
		halts:     halt.New(cfg.Redis),
		secret:    deploysecret.NewSource(cfg.Redis),
		providers: map[string]Provider{},
		requester: tasks.Requester{Actor: "app:" + cmp.Or(cfg.Name, filepath.Base(os.Args[0]))},
	}
	if err := c.requester.Validate(); err != nil {
		return nil, fmt.Errorf("producer: Config.Name: %w", err)
	}
	c.audit, c.includeUser = cfg.Audit, cfg.IncludeUser
	if c.audit == nil {
		// An application appends to the trail and leaves its trimming to
		// resetq's own processes, which know the configuration's bounds.
		trail, err := audit.New(audit.Config{Redis: cfg.Redis, AppendOnly: true})
		if err != nil {
			return nil, fmt.Errorf("producer: %w", err)
		}
		c.audit = trail
	}
	for _, p := range cfg.Providers {
		if err := tasks.ValidateName(p.Name); err != nil {
			return nil, fmt.Errorf("producer: provider name: %w", err)
		}
		if p.MaxRetries < 0 {
			return nil, fmt.Errorf("producer: provider %q: negative MaxRetries", p.Name)
		}
		c.providers[p.Name] = p
	}
	if len(c.providers) == 0 {
		return nil, errors.New("producer: at least one provider is required")
	}
	cc := campaigns.Config{Redis: cfg.Redis}
	for _, p := range c.providers {
		cc.Providers = append(cc.Providers, campaigns.Provider{Name: p.Name, EmailOnly: p.emailOnly(),
			MaxRetries: p.MaxRetries, AttemptTimeout: p.AttemptTimeout, RateCount: p.RateCount, RatePeriod: p.RatePeriod})
	}
	c.campaigns = campaigns.NewManager(cc)
	return c, nil
}

// Request asks for one reset.
type Request struct {
	// Provider names the configured provider to reset through.
	Provider string
	// User holds exactly one of Email, Username or ID.
	User tasks.User
	// Actions to request; empty means the provider's default
	// (UPDATE_PASSWORD).
	Actions []string
	// IdempotencyKey makes the request safe to repeat: the same key for the
	// same provider, in the same Scope, names the same task, which runs
	// once. Repeating the key with a different request (another user,
	// actions or meta) is refused with ErrIdempotencyConflict. Empty means
	// every call is a new reset.
	IdempotencyKey string
	// Scope keeps the idempotency keys of different clients apart: the
	// same key in two scopes names two tasks. The HTTP API gives each
	// token its own; empty is the scope of callers on Redis itself (this
	// client in an application, resetq enqueue, resetq dev).
	Scope string
	// Meta is carried to the outcome's webhook event untouched.
	Meta map[string]string
	// Requester is who asked, for the audit trail, the outcome and its
	// event; zero is the client's own ("app:<Config.Name>").
	Requester tasks.Requester
}

// Enqueued is the result of Enqueue.
type Enqueued struct {
	TaskID string
	Queue  string
	// Duplicate is true when a task for the same request with the same
	// idempotency key exists or has finished: nothing new was enqueued, and
	// TaskID names it.
	Duplicate bool
}

// Enqueue validates the request and puts it on its provider's queue. The
// request is kept in the audit trail: accepted (before its task is queued,
// so that the trail has it before its outcome), duplicate, conflicting or
// refused, and why.
func (c *Client) Enqueue(ctx context.Context, req Request) (Enqueued, error) {
	req.Requester = cmp.Or(req.Requester, audit.ActorOf(ctx, c.requester))
	rec := audit.Record{Actor: req.Requester.Actor, Address: req.Requester.Address, Action: "reset.request",
		Target: "provider:" + req.Provider, Provider: req.Provider, User: c.userRef(ctx, req.User)}
	res, err := c.enqueue(ctx, req, rec)
	if res.TaskID != "" {
		rec.Target, rec.TaskID = "task:"+res.TaskID, res.TaskID
	}
	switch {
	case errors.Is(err, ErrIdempotencyConflict):
		rec.Result, rec.Reason = "conflict", err.Error()
	case errors.Is(err, ErrInvalidRequest):
		rec.Result, rec.Reason = "refused", c.withoutUser(err.Error(), req.User)
	case err != nil:
		rec.Result, rec.Reason = "failed", err.Error()
	case res.Duplicate:
		rec.Result = "duplicate"
	default:
		return res, nil // kept as accepted when it was queued
	}
	c.record(ctx, rec)
	return res, err
}

// withoutUser takes the user's reference out of an error's text (a refusal
// quotes the value it refused) unless users are named in the trail.
func (c *Client) withoutUser(s string, u tasks.User) string {
	if c.includeUser {
		return s
	}
	for _, v := range []string{u.Email, u.Username, u.ID} {
		if v != "" {
			s = strings.ReplaceAll(strings.ReplaceAll(s, strconv.Quote(v), "[user]"), v, "[user]")
		}
	}
	return s
}

// userRef names a user in the audit trail as the logs do.
func (c *Client) userRef(ctx context.Context, u tasks.User) string {
	if c.includeUser {
		return audit.UserRef(nil, true, u)
	}
	secret, err := c.secret.Get(ctx)
	if err != nil {
		return u.Kind() + ":?"
	}
	return audit.UserRef(deploysecret.Derive(secret, deploysecret.LogUsers), false, u)
}

// record appends to the audit trail. The trail lives on the same Redis as
// the queues: when it cannot be written, neither could the request, so a
// failure here is not the caller's to handle.
func (c *Client) record(ctx context.Context, r audit.Record) {
	_ = c.audit.Append(context.WithoutCancel(ctx), r)
}

func (c *Client) enqueue(ctx context.Context, req Request, rec audit.Record) (Enqueued, error) {
	prov, ok := c.providers[req.Provider]
	if !ok {
		return Enqueued{}, fmt.Errorf("%w: provider %q is not configured (configured: %s)",
			ErrInvalidRequest, req.Provider, strings.Join(slices.Sorted(maps.Keys(c.providers)), ", "))
	}
	if k := req.User.Kind(); k != "" && !prov.accepts(k) {
		return Enqueued{}, fmt.Errorf("%w: provider %q is a %s provider, which resets users by %s only (not by %s)",
			ErrInvalidRequest, req.Provider, prov.Type, strings.Join(prov.UserRefs, " or "), k)
	}
	p := &tasks.Payload{
		V: tasks.PayloadVersion, Provider: req.Provider, User: req.User,
		Actions: slices.Clone(req.Actions), IdempotencyKey: req.IdempotencyKey,
		Meta: maps.Clone(req.Meta), RequestedAt: time.Now().UTC().Truncate(time.Millisecond),
		Requester: req.Requester,
	}
	if err := p.Validate(); err != nil {
		return Enqueued{}, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	if req.IdempotencyKey == "" {
		id := tasks.RandomTaskID()
		if err := c.submit(ctx, prov, p, id, rec); err != nil {
			return Enqueued{}, err
		}
		return Enqueued{TaskID: id, Queue: tasks.QueueName(prov.Name)}, nil
	}
	if err := checkScope(req.Scope); err != nil {
		return Enqueued{}, err
	}
	secret, err := c.secret.Get(ctx)
	if err != nil {
		return Enqueued{}, err
	}
	id := tasks.TaskID(deploysecret.Derive(secret, deploysecret.TaskIDs), req.Scope, req.Provider, req.IdempotencyKey)
	return c.submitKeyed(ctx, prov, p, id, p.Fingerprint(deploysecret.Derive(secret, deploysecret.RequestFingerprints)), rec)
}

// requestTTL is how long the fingerprint of a keyed request is kept while
// its task waits. It is cut to the outcome's retention when the task ends;
// a task still waiting after it is compared by its payload instead.
const requestTTL = 30 * 24 * time.Hour

// submitKeyed enqueues a task with an idempotency key, unless the key names
// a task already: then it is a duplicate when that task was made for the
// same request (fingerprint), and a conflict otherwise.
//
// The fingerprint is recorded before the task is enqueued, atomically with
// the check for one recorded before it: of two requests racing with the
// same key, one records its fingerprint and the other is compared with it.
func (c *Client) submitKeyed(ctx context.Context, prov Provider, p *tasks.Payload, id, fp string, rec audit.Record) (Enqueued, error) {
	out := Enqueued{TaskID: id, Queue: tasks.QueueName(prov.Name)}
	prev, err := c.outcomes.ClaimRequest(ctx, id, fp, requestTTL)
	if err != nil {
		return Enqueued{}, err
	}
	if prev != "" && prev != fp {
		return Enqueued{}, conflict(p)
	}
	// A finished task leaves its outcome behind after Asynq forgets it.
	r, err := c.outcomes.Get(ctx, id)
	if err != nil {
		return Enqueued{}, err
	}
	if r != nil {
		out.Duplicate = true
		return out, nil
	}
	err = c.submit(ctx, prov, p, id, rec)
	switch {
	case err == nil:
		return out, nil
	case !errors.Is(err, asynq.ErrTaskIDConflict):
		return Enqueued{}, err
	case prev != "":
		out.Duplicate = true // the same request as the one recorded
		return out, nil
	}
	// The task was there before this call recorded its fingerprint (it
	// has waited longer than requestTTL): compare with its payload.
	info, err := c.insp.GetTaskInfo(out.Queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) {
		// Finished this instant: nothing is left to compare with.
		out.Duplicate = true
		return out, nil
	}
	if err != nil {
		return Enqueued{}, err
	}
	queued, err := tasks.Decode(info.Payload)
	if err != nil {
		return Enqueued{}, fmt.Errorf("reading task %s: %w", id, err)
	}
	secret, err := c.secret.Get(ctx)
	if err != nil {
		return Enqueued{}, err
	}
	if qfp := queued.Fingerprint(deploysecret.Derive(secret, deploysecret.RequestFingerprints)); qfp != fp {
		if err := c.outcomes.ReplaceRequest(ctx, id, qfp); err != nil {
			return Enqueued{}, err
		}
		return Enqueued{}, conflict(p)
	}
	out.Duplicate = true
	return out, nil
}

// submit puts a task on its provider's queue, recording rec as accepted in
// the audit trail first: a worker may end the task before this returns,
// and the trail has the request before its outcome. When the task cannot
// be queued after all, Enqueue records that too: a task ID that is taken
// (asynq.ErrTaskIDConflict) as a duplicate, anything else as failed.
func (c *Client) submit(ctx context.Context, prov Provider, p *tasks.Payload, id string, rec audit.Record) error {
	t, err := tasks.NewResetTask(p, prov.taskSettings(id))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	rec.Target, rec.TaskID, rec.Result = "task:"+id, id, "accepted"
	c.record(ctx, rec)
	if _, err := c.asynq.EnqueueContext(ctx, t.Task, t.Options...); err != nil {
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			return err
		}
		return fmt.Errorf("enqueueing to %s: %w", t.Queue, err)
	}
	return nil
}

// conflict is the error for a key reused by another request. It names the
// key, never the user.
func conflict(p *tasks.Payload) error {
	return fmt.Errorf("%w: idempotency key %q already names a reset through %s for another user, other actions or other meta; "+
		"send a new key for a new request", ErrIdempotencyConflict, p.IdempotencyKey, p.Provider)
}

// checkScope bounds a Request's Scope as a key is bounded.
func checkScope(scope string) error {
	if len(scope) > tasks.MaxIdempotencyKeyLen {
		return fmt.Errorf("%w: scope: longer than %d characters", ErrInvalidRequest, tasks.MaxIdempotencyKeyLen)
	}
	return nil
}

// Status is where a task stands.
type Status struct {
	TaskID string
	// State is Asynq's (pending, active, scheduled, retry, archived,
	// completed), or "done" once the outcome is recorded.
	State string
	// Result is set when State is "done".
	Result *tasks.Result
	// Provider and Queue say where the task waits.
	Provider, Queue string
	// Retried counts the attempts that failed so far; LastError is the
	// newest of their errors.
	Retried   int
	LastError string
	// NextAttempt is when a retry or scheduled task runs next.
	NextAttempt time.Time
	// Halt is set when the provider is halted: the task waits for
	// `resetq provider resume`.
	Halt *halt.State
	// Requester is who asked for the reset (zero for a task queued before
	// requesters were recorded).
	Requester tasks.Requester
}

// Status reports where a task stands.
func (c *Client) Status(ctx context.Context, taskID string) (*Status, error) {
	if !tasks.ValidTaskID(taskID) {
		return nil, fmt.Errorf("%w: %q is not a resetq task ID", ErrInvalidRequest, taskID)
	}
	r, err := c.outcomes.Get(ctx, taskID)
	if err != nil {
		return nil, err
	}
	if r != nil {
		return &Status{TaskID: taskID, State: "done", Result: r, Provider: r.Provider, Queue: tasks.QueueName(r.Provider),
			Requester: r.Requester}, nil
	}
	for _, name := range slices.Sorted(maps.Keys(c.providers)) {
		q := tasks.QueueName(name)
		info, err := c.insp.GetTaskInfo(q, taskID)
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		st := &Status{TaskID: taskID, State: info.State.String(), Provider: name, Queue: q,
			Retried: info.Retried, LastError: info.LastErr, NextAttempt: info.NextProcessAt}
		st.Requester = tasks.RequesterOf(info.Headers)
		if st.Halt, err = c.halts.Get(ctx, name); err != nil {
			return nil, err
		}
		return st, nil
	}
	// The outcome may have been written between the two reads.
	if r, err := c.outcomes.Get(ctx, taskID); err == nil && r != nil {
		return &Status{TaskID: taskID, State: "done", Result: r, Provider: r.Provider, Queue: tasks.QueueName(r.Provider),
			Requester: r.Requester}, nil
	}
	return nil, fmt.Errorf("%w: %s (unknown, or finished longer ago than outcomes are kept)", ErrTaskNotFound, taskID)
}

// Wait blocks until the task has an outcome, and returns it. A task of a
// halted provider waits for the resume; bound the wait with ctx.
func (c *Client) Wait(ctx context.Context, taskID string) (*tasks.Result, error) {
	if !tasks.ValidTaskID(taskID) {
		return nil, fmt.Errorf("%w: %q is not a resetq task ID", ErrInvalidRequest, taskID)
	}
	delay := 10 * time.Millisecond
	nextCheck := time.Now()
	for {
		r, err := c.outcomes.Get(ctx, taskID)
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		if r != nil {
			return r, nil
		}
		if time.Now().After(nextCheck) {
			// Now and then make sure there is something to wait for.
			if _, err := c.Status(ctx, taskID); err != nil && ctx.Err() == nil {
				return nil, err
			}
			nextCheck = time.Now().Add(2 * time.Second)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		delay = min(delay*3/2, 250*time.Millisecond)
	}
}
