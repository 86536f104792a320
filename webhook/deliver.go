package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"code.dny.dev/ssrf"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/internal/retryafter"
	"github.com/resetq/resetq/tasks"
)

// TypeDeliver is the Asynq task type of one delivery.
const TypeDeliver = "webhook:deliver"

// DefaultSchedule is the wait before each retry, after an immediate first
// attempt: close to the Standard Webhooks example, about 27 hours in all.
var DefaultSchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// Observer counts deliveries. outcome is delivered, retried, failed (no
// retries left), disabled (the endpoint answered 410) or dropped (the
// endpoint is disabled or no longer configured).
type Observer interface {
	WebhookDelivery(endpoint, event, outcome string, d time.Duration)
}

// delivery is the payload of a TypeDeliver task: the event rendered for
// one endpoint. The endpoint's URL and secrets are read from the
// configuration when it is sent.
type delivery struct {
	V        int             `json:"v"`
	Endpoint string          `json:"endpoint"`
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Body     json.RawMessage `json:"body"`
}

// Config configures webhook delivery.
type Config struct {
	Redis     redis.UniversalClient
	Endpoints []Endpoint
	// Timeout bounds one attempt (15 s); ConnectTimeout its connection (5 s).
	Timeout, ConnectTimeout time.Duration
	// Schedule is the wait before each retry (DefaultSchedule).
	Schedule  []time.Duration
	UserAgent string
	Observer  Observer
	Logger    *slog.Logger
}

// Webhooks emits events and delivers them.
type Webhooks struct {
	cfg       Config
	endpoints map[string]Endpoint
	clients   map[bool]*http.Client // by AllowPrivateNetworks
	states    *States
	asynq     *asynq.Client
}

// New checks cfg and returns the emitter and deliverer. With no endpoints
// it is valid and does nothing.
func New(cfg Config) (*Webhooks, error) {
	if cfg.Redis == nil {
		return nil, errors.New("webhook: Config.Redis is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.Schedule == nil {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "resetq"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Webhooks{cfg: cfg, endpoints: map[string]Endpoint{}, clients: map[bool]*http.Client{},
		states: NewStates(cfg.Redis), asynq: asynq.NewClientFromRedisClient(cfg.Redis)}
	for _, e := range cfg.Endpoints {
		if _, dup := w.endpoints[e.Name]; dup {
			return nil, fmt.Errorf("webhook: endpoint %q given twice", e.Name)
		}
		if _, err := ParseSecrets(strings.Join(e.Secrets, " ")); err != nil {
			return nil, fmt.Errorf("webhook: endpoint %s: %w", e.Name, err)
		}
		if err := CheckURL(e.URL, e.AllowPrivateNetworks); err != nil {
			return nil, fmt.Errorf("webhook: endpoint %s: %w", e.Name, err)
		}
		w.endpoints[e.Name] = e
	}
	for _, private := range []bool{false, true} {
		w.clients[private] = NewClient(cfg.Timeout, cfg.ConnectTimeout, private)
	}
	return w, nil
}

// NewClient returns the HTTP client deliveries use: no redirects followed
// (a 3xx is a failure), the SSRF guard on every dial unless private
// networks are allowed, no proxy, and a bounded wait.
func NewClient(timeout, connectTimeout time.Duration, allowPrivate bool) *http.Client {
	t := &http.Transport{
		DialContext:           dialer(connectTimeout, allowPrivate).DialContext,
		TLSHandshakeTimeout:   connectTimeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: t, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// MaxRetry is the number of retries a delivery gets.
func (w *Webhooks) MaxRetry() int { return len(w.cfg.Schedule) }

// Enabled reports whether any endpoint is configured.
func (w *Webhooks) Enabled() bool { return len(w.endpoints) > 0 }

// Endpoints returns the configured endpoints.
func (w *Webhooks) Endpoints() []Endpoint { return w.cfg.Endpoints }

// States returns the endpoint state store.
func (w *Webhooks) States() *States { return w.states }

// Emit enqueues one delivery of the event per endpoint that subscribes to
// it. Emitting the same event again (the same webhook-id) enqueues nothing
// while its delivery is pending, so a task that re-emits after a crash does
// not send twice what is still on its way.
func (w *Webhooks) Emit(ctx context.Context, e Event) error {
	for _, ep := range w.cfg.Endpoints {
		if !ep.Wants(e.Type) {
			continue
		}
		if off, err := w.states.Disabled(ctx, ep.Name); err != nil {
			return err
		} else if off {
			w.observe(ep.Name, e.Type, "dropped", 0)
			continue
		}
		body, err := e.Body(ep.IncludeUser, ep.key())
		if err != nil {
			return err
		}
		payload, err := json.Marshal(delivery{V: 1, Endpoint: ep.Name, ID: e.ID, Type: e.Type, Body: body})
		if err != nil {
			return err
		}
		_, err = w.asynq.EnqueueContext(ctx, asynq.NewTask(TypeDeliver, payload),
			asynq.Queue(tasks.WebhookQueueName), asynq.TaskID(deliveryID(e.ID, ep.Name)),
			asynq.MaxRetry(w.MaxRetry()), asynq.Timeout(w.cfg.Timeout+w.cfg.ConnectTimeout+5*time.Second))
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("enqueueing a %s webhook for %s: %w", e.Type, ep.Name, err)
		}
	}
	return nil
}

func deliveryID(msgID, endpoint string) string {
	h := sha256.Sum256([]byte(msgID + "\x00" + endpoint))
	return "w-" + hex.EncodeToString(h[:16])
}

func (w *Webhooks) observe(endpoint, event, outcome string, d time.Duration) {
	if w.cfg.Observer != nil {
		w.cfg.Observer.WebhookDelivery(endpoint, event, outcome, d)
	}
}

// attemptError is a failed attempt; retryAfter is the receiver's
// Retry-After on a throttling answer.
type attemptError struct {
	status     int
	retryAfter time.Duration
	msg        string
}

func (e *attemptError) Error() string {
	if e.status != 0 {
		return fmt.Sprintf("HTTP %d: %s", e.status, e.msg)
	}
	return e.msg
}

// ProcessTask delivers one event to one endpoint: one attempt per call.
func (w *Webhooks) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var d delivery
	if err := json.Unmarshal(t.Payload(), &d); err != nil || d.V != 1 || d.Endpoint == "" || len(d.Body) == 0 {
		return fmt.Errorf("not a webhook delivery: %w", asynq.SkipRetry)
	}
	ep, ok := w.endpoints[d.Endpoint]
	if !ok {
		w.cfg.Logger.Warn("webhook dropped: the endpoint is no longer configured", "endpoint", d.Endpoint, "event", d.Type, "webhook_id", d.ID)
		w.observe(d.Endpoint, d.Type, "dropped", 0)
		return nil
	}
	if off, err := w.states.Disabled(ctx, ep.Name); err != nil {
		return err
	} else if off {
		w.observe(ep.Name, d.Type, "dropped", 0)
		return nil
	}
	retried, _ := asynq.GetRetryCount(ctx)
	start := time.Now()
	status, err := w.send(ctx, ep, d)
	took := time.Since(start)
	attempt := retried + 1
	switch {
	case err == nil:
		_ = w.states.record(context.WithoutCancel(ctx), ep.Name, status, "", true)
		w.observe(ep.Name, d.Type, "delivered", took)
		w.cfg.Logger.Debug("webhook delivered", "endpoint", ep.Name, "event", d.Type, "webhook_id", d.ID, "attempt", attempt, "status", status)
		return nil
	case status == http.StatusGone:
		// The receiver says it is gone for good: stop sending to it.
		_ = w.states.record(context.WithoutCancel(ctx), ep.Name, status, err.Error(), false)
		_ = w.states.Disable(context.WithoutCancel(ctx), ep.Name, "answered 410 Gone")
		w.observe(ep.Name, d.Type, "disabled", took)
		w.cfg.Logger.Error("webhook endpoint disabled: it answered 410 Gone. Re-enable it with: resetq webhook enable "+ep.Name,
			"endpoint", ep.Name, "event", d.Type, "webhook_id", d.ID)
		return nil
	}
	_ = w.states.record(context.WithoutCancel(ctx), ep.Name, status, err.Error(), false)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	if retried >= maxRetry {
		w.observe(ep.Name, d.Type, "failed", took)
		w.cfg.Logger.Error("webhook not delivered: no retries left", "endpoint", ep.Name, "event", d.Type,
			"webhook_id", d.ID, "attempts", attempt, "error", err.Error())
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	w.observe(ep.Name, d.Type, "retried", took)
	w.cfg.Logger.Warn("webhook attempt failed; it will be retried", "endpoint", ep.Name, "event", d.Type,
		"webhook_id", d.ID, "attempt", attempt, "error", err.Error())
	return err
}

// send makes one signed attempt. It returns the status (0 without an
// answer) and nil only for a 2xx.
func (w *Webhooks) send(ctx context.Context, ep Endpoint, d delivery) (int, error) {
	res, err := Post(ctx, w.clients[ep.AllowPrivateNetworks], ep.URL, ep.Secrets, d.ID, d.Body, w.cfg.UserAgent)
	if err != nil {
		return 0, err
	}
	if res.Status >= 200 && res.Status < 300 {
		return res.Status, nil
	}
	e := &attemptError{status: res.Status, msg: res.Excerpt}
	switch res.Status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		e.retryAfter = parseRetryAfter(res.Header.Get("Retry-After"), time.Now())
	}
	if res.Status >= 300 && res.Status < 400 {
		e.msg = "redirects are not followed (Location: " + res.Header.Get("Location") + ")"
	}
	return res.Status, e
}

// Response is a receiver's answer to one attempt.
type Response struct {
	Status int
	Header http.Header
	// Excerpt is the start of the body, on one line.
	Excerpt string
	Took    time.Duration
}

// Post makes one signed delivery attempt of body to url: the
// webhook-id, a webhook-timestamp of now, and a webhook-signature per
// secret. An error means no answer came.
func Post(ctx context.Context, client *http.Client, rawURL string, secrets []string, msgID string, body []byte, userAgent string) (*Response, error) {
	now := time.Now()
	sig, err := Sign(secrets, msgID, now, body)
	if err != nil {
		return nil, &attemptError{msg: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return nil, &attemptError{msg: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	res, err := client.Do(req)
	if err != nil {
		return nil, &attemptError{msg: describe(err)}
	}
	defer res.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10)) // the rest is not read
	return &Response{Status: res.StatusCode, Header: res.Header, Excerpt: oneLine(excerpt), Took: time.Since(now)}, nil
}

// describe words a transport error without the URL (which can carry a
// token in its query).
func describe(err error) string {
	if errors.Is(err, ssrf.ErrProhibitedIP) || errors.Is(err, ssrf.ErrProhibitedNetwork) {
		return "refused: the address is private, loopback or link-local " +
			"(set allow_private_networks: true for an internal receiver)"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…" // not inside a character
	}
	return s
}

func parseRetryAfter(v string, now time.Time) time.Duration { return retryafter.Parse(v, now) }

// RetryDelay is the Asynq RetryDelayFunc of the webhooks queue: the
// schedule with ±10 % jitter, or the receiver's longer Retry-After.
func (w *Webhooks) RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	s := w.cfg.Schedule
	if len(s) == 0 {
		return time.Second
	}
	d := s[min(n, len(s)-1)]
	d = time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
	var ae *attemptError
	if errors.As(err, &ae) && ae.retryAfter > d {
		// Asynq keeps retry times in whole seconds, so it can run a retry up
		// to a second early: the extra second keeps Retry-After honoured.
		d = ae.retryAfter + time.Second
	}
	return d
}
