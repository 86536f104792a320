package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/internal/audit"
	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/deploysecret"
	"github.com/resetq/resetq/internal/dupwindow"
	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/internal/mailhealth"
	"github.com/resetq/resetq/internal/metrics"
	"github.com/resetq/resetq/internal/outcomes"
	"github.com/resetq/resetq/internal/ratelimit"
	"github.com/resetq/resetq/internal/recording"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/webhook"
)

const haltMarker = halt.ErrorMarker

// Provider is one provider the worker serves, with its queue settings.
type Provider struct {
	// Name is the provider's configured name; its queues are
	// tasks.Queues(Name).
	Name string
	// IdP sends the resets. If it also implements idp.Checker, the worker
	// checks it at start.
	IdP idp.Provider
	// AttemptTimeout bounds one attempt (default 2m).
	AttemptTimeout time.Duration
	// Concurrency is how many of this provider's resets are at the IdP at
	// once in this process; 0 means Config.Concurrency. A few more tasks
	// than that run, so the queue's bookkeeping of one overlaps another's
	// IdP call and the IdP sees the whole concurrency.
	Concurrency int
	// RateCount resets per RatePeriod, across every worker process and
	// enforced in Redis; 0 means no limit.
	RateCount  int
	RatePeriod time.Duration
	// DuplicateWindow: a second reset for the same user inside it ends
	// skipped (recently_reset) without calling the IdP; 0 turns it off.
	DuplicateWindow time.Duration
	// MailHaltAfter: when this many different users' mail failed in a row
	// (idp.MailFailed), none delivered in between, the provider halts
	// (default DefaultMailHaltAfter; negative turns it off).
	MailHaltAfter int
	// MailRefusedAfter: a user whose mail failed this many times while the
	// relay delivered others' is skipped as recipient_refused (default
	// DefaultMailRefusedAfter; negative turns it off: such a user is
	// retried until its retries run out).
	MailRefusedAfter int
}

// Defaults for judging mail failures.
const (
	DefaultMailHaltAfter    = 5
	DefaultMailRefusedAfter = 3
)

// mailWindow is how far back the delivered and failed counts reach.
const mailWindow = mailhealth.Window

// Config configures a Server.
type Config struct {
	// Redis is shared with the producer side; the worker does not close it.
	Redis     redis.UniversalClient
	Providers []Provider

	// Concurrency is the default number of resets in flight per provider
	// in this process. Each provider has its own workers, so a slow IdP
	// never takes the slots of another.
	Concurrency int
	// ShutdownTimeout is how long in-flight resets get to finish when the
	// server shuts down before they are put back in their queues.
	ShutdownTimeout time.Duration
	// PollInterval is how long an idle worker sleeps between looks at its
	// empty queues (±50 % jitter).
	PollInterval time.Duration
	// OutcomeRetention is how long outcome records live.
	OutcomeRetention time.Duration

	// Webhooks receives the outcome and halt events and runs their
	// deliveries on its own queue; nil sends none.
	Webhooks *webhook.Webhooks
	// WebhookConcurrency is how many deliveries run at once (10).
	WebhookConcurrency int

	// Metrics receives every metric; nil registers on a private registry.
	Metrics *metrics.Metrics
	// Logger gets one line per outcome and one per halt.
	Logger *slog.Logger
	// LogUser logs the user's reference; by default a short hash stands
	// for it. The audit trail names users the same way.
	LogUser bool
	// Audit keeps every outcome and halt in the audit trail; nil keeps
	// none.
	Audit *audit.Trail

	// RetryBase and RetryCap shape the backoff across attempts (10 s up to
	// 15 min). InAttemptBase is the first wait inside an attempt (200 ms).
	RetryBase, RetryCap, InAttemptBase time.Duration
	// MaxHold is the longest a task waits for the rate limit while holding
	// its slot; longer waits go back to the queue (1 s).
	MaxHold time.Duration
	// SyncInterval is how often the worker rereads halt state written by
	// other processes (2 s), and rechecks providers whose start-up check
	// could not reach them (10× that).
	SyncInterval time.Duration
}

func (c *Config) setDefaults() {
	c.Concurrency = positiveOr(c.Concurrency, 20)
	c.ShutdownTimeout = positiveOr(c.ShutdownTimeout, 30*time.Second)
	c.PollInterval = positiveOr(c.PollInterval, 50*time.Millisecond)
	c.OutcomeRetention = positiveOr(c.OutcomeRetention, 72*time.Hour)
	c.RetryBase = positiveOr(c.RetryBase, 10*time.Second)
	c.RetryCap = positiveOr(c.RetryCap, 15*time.Minute)
	c.InAttemptBase = positiveOr(c.InAttemptBase, 200*time.Millisecond)
	c.MaxHold = positiveOr(c.MaxHold, time.Second)
	c.SyncInterval = positiveOr(c.SyncInterval, 2*time.Second)
	c.WebhookConcurrency = positiveOr(c.WebhookConcurrency, 10)
	if c.Metrics == nil {
		c.Metrics = metrics.New(prometheus.NewRegistry())
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// positiveOr is v, or def when v is zero or negative: the defaulting rule
// of every count and duration in Config.
func positiveOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// checkState is where a provider's start-up check stands.
type checkState int32

const (
	checkPending checkState = iota
	checkPassed
	checkHalted
)

type provider struct {
	Provider
	// atIdP holds a token for each reset at the IdP: Concurrency of them.
	atIdP chan struct{}
	// rate is the provider's rate limit: one rule, or none.
	rate   []ratelimit.Rule
	recent *dupwindow.Window // nil: no duplicate window
	// halt is this process's view of the provider's halt and generation.
	halt    halt.Flag
	check   atomic.Int32 // checkState
	checkMu sync.Mutex
	lastErr string // last failed check, for /readyz
}

// bookkeeping is how many tasks beyond a provider's concurrency run, to
// take and settle tasks in the queue (a few Redis round trips each) while
// the provider's concurrency is at the IdP: a quarter more, at least two.
func bookkeeping(concurrency int) int { return max(2, concurrency/4) }

// Pace is the limit resetq enforces for n resets per period
// (ratelimit.Pace): a steady pace with the smallest burst that makes up a
// slot taken a moment late.
func Pace(n int, per time.Duration) redis_rate.Limit { return ratelimit.Pace(n, per) }

// Server runs the workers.
type Server struct {
	cfg       Config
	providers map[string]*provider
	order     []string
	servers   []*asynq.Server // one per provider
	books     *recording.Books
	halts     *halt.Service
	mail      *mailhealth.Tracker
	limiter   *ratelimit.Limiter
	waitlist  *ratelimit.Waitlist
	log       *slog.Logger
	m         *metrics.Metrics
	// secret keys the user hashes in log lines.
	secret *deploysecret.Source

	stop context.CancelFunc
	bg   sync.WaitGroup
}

// New checks cfg and builds a Server. It does not touch Redis.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.Redis == nil {
		return nil, errors.New("worker: Config.Redis is required")
	}
	if len(cfg.Providers) == 0 {
		return nil, errors.New("worker: at least one provider is required")
	}
	s := &Server{
		cfg:       cfg,
		providers: map[string]*provider{},
		books: recording.NewBooks(outcomes.New(cfg.Redis, cfg.OutcomeRetention), campaigns.NewStore(cfg.Redis),
			15*time.Second),
		mail:     mailhealth.New(cfg.Redis),
		limiter:  ratelimit.New(cfg.Redis, cfg.MaxHold),
		waitlist: ratelimit.NewWaitlist(cfg.Redis),
		secret:   deploysecret.NewSource(cfg.Redis),
		log:      cfg.Logger,
		m:        cfg.Metrics,
	}
	var events halt.Emitter
	if cfg.Webhooks != nil {
		events = cfg.Webhooks
	}
	s.halts = halt.NewService(cfg.Redis, events, cfg.Logger)
	s.halts.Audit = cfg.Audit
	for _, p := range cfg.Providers {
		if err := tasks.ValidateName(p.Name); err != nil {
			return nil, fmt.Errorf("worker: provider name: %w", err)
		}
		if _, dup := s.providers[p.Name]; dup {
			return nil, fmt.Errorf("worker: provider %q given twice", p.Name)
		}
		if p.IdP == nil {
			return nil, fmt.Errorf("worker: provider %q has no IdP", p.Name)
		}
		if p.AttemptTimeout <= 0 {
			p.AttemptTimeout = tasks.DefaultAttemptTimeout
		}
		if p.Concurrency <= 0 {
			p.Concurrency = cfg.Concurrency
		}
		if p.MailHaltAfter == 0 {
			p.MailHaltAfter = DefaultMailHaltAfter
		}
		if p.MailRefusedAfter == 0 {
			p.MailRefusedAfter = DefaultMailRefusedAfter
		}
		pp := &provider{Provider: p, atIdP: make(chan struct{}, p.Concurrency),
			recent: dupwindow.New(cfg.Redis, p.Name, p.DuplicateWindow)}
		if p.RateCount > 0 {
			per := p.RatePeriod
			if per <= 0 {
				per = time.Second
			}
			pp.rate = []ratelimit.Rule{ratelimit.Provider(p.Name, Pace(p.RateCount, per))}
		}
		s.providers[p.Name] = pp
		s.order = append(s.order, p.Name)
		s.m.InitProvider(p.Name)
		// One Asynq server per provider: Asynq's concurrency limit is per
		// server, and a shared one lets a slow IdP hold every slot. Its
		// campaign queue is served only when its own queue is empty.
		s.servers = append(s.servers, asynq.NewServerFromRedisClient(cfg.Redis, asynq.Config{
			Concurrency:              p.Concurrency + bookkeeping(p.Concurrency),
			Queues:                   map[string]int{tasks.QueueName(p.Name): 2, tasks.CampaignQueueName(p.Name): 1},
			StrictPriority:           true,
			TaskCheckInterval:        cfg.PollInterval,
			DelayedTaskCheckInterval: time.Second,
			ShutdownTimeout:          cfg.ShutdownTimeout,
			RetryDelayFunc:           s.retryDelay,
			IsFailure:                isFailure,
			ErrorHandler:             asynq.ErrorHandlerFunc(s.handleError),
			Logger:                   asynqLogger{cfg.Logger},
			LogLevel:                 asynq.InfoLevel,
		}))
	}
	if wh := cfg.Webhooks; wh != nil && wh.Enabled() {
		// Deliveries have their own server and queue: a slow receiver never
		// takes a reset's slot, and a delivery's retry never repeats a reset.
		s.servers = append(s.servers, asynq.NewServerFromRedisClient(cfg.Redis, asynq.Config{
			Concurrency:              cfg.WebhookConcurrency,
			Queues:                   map[string]int{tasks.WebhookQueueName: 1},
			TaskCheckInterval:        cfg.PollInterval,
			DelayedTaskCheckInterval: time.Second,
			ShutdownTimeout:          cfg.ShutdownTimeout,
			RetryDelayFunc:           wh.RetryDelay,
			Logger:                   asynqLogger{cfg.Logger},
			LogLevel:                 asynq.InfoLevel,
		}))
		for _, e := range wh.Endpoints() {
			s.m.WebhookEndpointDisabled.WithLabelValues(e.Name).Set(0)
		}
	}
	return s, nil
}

// Start loads the halt state, starts the start-up checks and begins
// processing. It returns once the workers run.
func (s *Server) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	if err := s.syncHalts(ctx); err != nil {
		cancel()
		return fmt.Errorf("reading provider state from Redis: %w", err)
	}
	if _, err := s.secret.Get(ctx); err != nil {
		cancel()
		return err
	}
	mux := asynq.NewServeMux()
	mux.HandleFunc(tasks.TypeReset, s.handle)
	if s.cfg.Webhooks != nil {
		mux.Handle(webhook.TypeDeliver, s.cfg.Webhooks)
	}
	for i, srv := range s.servers {
		if err := srv.Start(mux); err != nil {
			for _, started := range s.servers[:i] {
				started.Shutdown()
			}
			cancel()
			return err
		}
	}
	s.bg.Add(2)
	go func() { defer s.bg.Done(); s.checkProviders(ctx) }()
	go func() { defer s.bg.Done(); s.syncLoop(ctx) }()
	return nil
}

// Shutdown stops taking tasks, gives in-flight resets ShutdownTimeout to
// finish, puts the rest back in their queues, and returns.
func (s *Server) Shutdown() {
	var wg sync.WaitGroup
	for _, srv := range s.servers {
		wg.Go(srv.Shutdown)
	}
	wg.Wait()
	if s.stop != nil {
		s.stop()
	}
	s.bg.Wait()
}

// Readiness reports whether the worker can do its job: Redis answers, and
// every provider passed its start-up check or is halted with a reason. The
// map says, per provider, what stands in the way (empty when ready).
func (s *Server) Readiness(ctx context.Context) (bool, map[string]string) {
	status := map[string]string{}
	ready := true
	if err := s.cfg.Redis.Ping(ctx).Err(); err != nil {
		status["redis"] = "unreachable: " + err.Error()
		ready = false
	} else {
		status["redis"] = "ok"
	}
	for _, name := range s.order {
		p := s.providers[name]
		switch {
		case p.halt.Halted():
			status[name] = "halted (see `resetq provider check " + name + "`)"
		case checkState(p.check.Load()) == checkPending:
			ready = false
			p.checkMu.Lock()
			status[name] = "start-up check has not passed yet: " + p.lastErr
			p.checkMu.Unlock()
		default:
			status[name] = "ok"
		}
	}
	return ready, status
}

// asynqLogger sends Asynq's own log lines to slog. Its "Retry exhausted"
// warning fires for every skipped task, which is normal here, so it goes to
// debug.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any) {
	msg := fmt.Sprint(args...)
	if strings.HasPrefix(msg, "Retry exhausted") {
		a.l.Debug(msg, "component", "asynq")
		return
	}
	a.l.Warn(msg, "component", "asynq")
}
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
