package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/internal/metrics"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/webhook"
	"github.com/resetq/resetq/worker"
)

// provider is the one provider every bundle serves.
const provider = "corp"

// options are what a test changes in its bundle before the worker starts.
type options struct {
	cfg      worker.Config
	provider worker.Provider
	// producer is how tasks are enqueued (MaxRetries, AttemptTimeout).
	producer producer.Provider
	// noWorker leaves starting the worker to the test.
	noWorker bool
	// check, when set, makes the IdP an idp.Checker whose check returns it.
	check func() error
}

// bundle is a worker serving provider corp against a fake IdP, on its own
// redis-server, with quick retries, the producer's client to enqueue, and
// a webhook receiver that keeps every event.
type bundle struct {
	t      *testing.T
	redis  *redistest.Server
	rdb    *redis.Client
	idp    *fakeIdP
	client *producer.Client
	insp   *asynq.Inspector
	halts  *halt.Service
	reg    *prometheus.Registry
	m      *metrics.Metrics
	hooks  *hookReceiver
	opts   options

	mu      sync.Mutex
	workers []*runningWorker
}

// runningWorker is a started worker.Server, stopped once.
type runningWorker struct {
	*worker.Server
	once sync.Once
}

func (w *runningWorker) stop() { w.once.Do(w.Shutdown) }

func setup(t *testing.T, mutate ...func(*options)) *bundle {
	t.Helper()
	srv := redistest.Start(t)
	b := &bundle{t: t, redis: srv, rdb: srv.Client(t), idp: newFakeIdP(), reg: prometheus.NewPedanticRegistry()}
	b.m = metrics.New(b.reg)
	b.insp = asynq.NewInspectorFromRedisClient(b.rdb)
	t.Cleanup(func() { _ = b.insp.Close() })
	b.hooks = newHookReceiver(t)
	wh, err := webhook.New(webhook.Config{Redis: b.rdb, Schedule: []time.Duration{10 * time.Millisecond},
		Endpoints: []webhook.Endpoint{{Name: "hooks", URL: b.hooks.srv.URL, Secrets: []string{hookSecret},
			AllowPrivateNetworks: true}}})
	require.NoError(t, err)
	// The operator's resume, as the CLI and the HTTP API make it.
	b.halts = halt.NewService(b.rdb, wh, nil)

	b.opts = options{
		cfg: worker.Config{Redis: b.rdb, Concurrency: 4, PollInterval: 10 * time.Millisecond,
			ShutdownTimeout: 10 * time.Second, RetryBase: 10 * time.Millisecond, RetryCap: 50 * time.Millisecond,
			InAttemptBase: 5 * time.Millisecond, SyncInterval: 50 * time.Millisecond, Metrics: b.m, Webhooks: wh},
		provider: worker.Provider{Name: provider, AttemptTimeout: 2 * time.Second},
		producer: producer.Provider{Name: provider, MaxRetries: 10, AttemptTimeout: 2 * time.Second},
	}
	for _, f := range mutate {
		f(&b.opts)
	}
	b.client, err = producer.NewClient(producer.Config{Redis: b.rdb, Providers: []producer.Provider{b.opts.producer}})
	require.NoError(t, err)
	if !b.opts.noWorker {
		b.startWorker()
	}
	return b
}

// startWorker starts a worker (another process, as it were) on the
// bundle's Redis and IdP; it stops when the test ends.
func (b *bundle) startWorker() *runningWorker {
	b.t.Helper()
	cfg := b.opts.cfg
	p := b.opts.provider
	p.IdP = b.idp
	if b.opts.check != nil {
		p.IdP = checkingIdP{b.idp, b.opts.check}
	}
	cfg.Providers = []worker.Provider{p}
	s, err := worker.New(cfg)
	require.NoError(b.t, err)
	require.NoError(b.t, s.Start())
	w := &runningWorker{Server: s}
	b.t.Cleanup(w.stop)
	b.mu.Lock()
	b.workers = append(b.workers, w)
	b.mu.Unlock()
	return w
}

// worker is the first worker started.
func (b *bundle) worker() *runningWorker {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.workers[0]
}

// enqueue asks for a reset of email and returns its task ID.
func (b *bundle) enqueue(email string) string {
	b.t.Helper()
	res, err := b.client.Enqueue(context.Background(), producer.Request{Provider: provider, User: tasks.User{Email: email}})
	require.NoError(b.t, err)
	return res.TaskID
}

// enqueueAll asks for a reset of each email and returns the task IDs.
func (b *bundle) enqueueAll(emails []string) []string {
	b.t.Helper()
	ids := make([]string, len(emails))
	for i, e := range emails {
		ids[i] = b.enqueue(e)
	}
	return ids
}

// wait returns a task's outcome, failing the test after 10 s.
func (b *bundle) wait(id string) *tasks.Result {
	b.t.Helper()
	return waitOutcome(b.t, b.client, id, 10*time.Second)
}

// waitOutcome returns a task's outcome, failing the test after within.
func waitOutcome(t *testing.T, c *producer.Client, id string, within time.Duration) *tasks.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	r, err := c.Wait(ctx, id)
	require.NoError(t, err, "task %s has no outcome", id)
	return r
}

// status is where a task stands.
func (b *bundle) status(id string) *producer.Status {
	b.t.Helper()
	s, err := b.client.Status(context.Background(), id)
	require.NoError(b.t, err)
	return s
}

// queue is the provider's queue as Asynq sees it.
func (b *bundle) queue() *asynq.QueueInfo {
	b.t.Helper()
	info, err := b.insp.GetQueueInfo(tasks.QueueName(provider))
	require.NoError(b.t, err)
	return info
}

// task is one of the provider's tasks as Asynq sees it; nil once Asynq
// has forgotten it (it completed).
func (b *bundle) task(id string) *asynq.TaskInfo {
	b.t.Helper()
	info, err := b.insp.GetTaskInfo(tasks.QueueName(provider), id)
	if err != nil {
		require.ErrorIs(b.t, err, asynq.ErrTaskNotFound)
		return nil
	}
	return info
}

// settled waits until Asynq is done with the tasks (completed or
// archived: their events are queued) and every webhook is delivered, so
// that counting events is final.
func (b *bundle) settled(ids ...string) {
	b.t.Helper()
	for _, id := range ids {
		eventually(b.t, func() bool { info := b.task(id); return info == nil || info.State == asynq.TaskStateArchived },
			"asynq is done with %s", id)
	}
	eventually(b.t, func() bool {
		info, err := b.insp.GetQueueInfo(tasks.WebhookQueueName)
		require.NoError(b.t, err)
		return info.Pending+info.Active+info.Scheduled+info.Retry == 0
	}, "every webhook delivered")
}

// resets is resetq_resets_total for one outcome and reason.
func (b *bundle) resets(outcome tasks.Outcome, reason string) float64 {
	return testutil.ToFloat64(b.m.Resets.WithLabelValues(provider, string(outcome), reason))
}

// rateWaits is how many rate-limit waits resetq_ratelimit_wait_seconds
// observed.
func (b *bundle) rateWaits() uint64 {
	b.t.Helper()
	families, err := b.reg.Gather()
	require.NoError(b.t, err)
	var n uint64
	for _, f := range families {
		if f.GetName() == "resetq_ratelimit_wait_seconds" {
			for _, m := range f.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

// eventually waits for cond, polling, for up to 10 s.
func eventually(t *testing.T, cond func() bool, what string, args ...any) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, append([]any{what}, args...)...)
}

const hookSecret = "whsec_d29ya2VyLWJ1bmRsZS13ZWJob29rLXNlY3JldC0wMTIz"

// event is one webhook delivery the receiver got.
type event struct {
	id, typ string
	taskID  string
	outcome tasks.Outcome
	reason  string
}

// hookReceiver is a webhook endpoint that keeps every delivery.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []event
	// requesters are the reset events' data.requester, by task.
	requesters map[string]tasks.Requester
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{requesters: map[string]tasks.Requester{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var env struct {
			Type string `json:"type"`
			Data struct {
				TaskID    string          `json:"task_id"`
				Outcome   tasks.Outcome   `json:"outcome"`
				Reason    string          `json:"reason"`
				Requester tasks.Requester `json:"requester"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.events = append(r.events, event{id: req.Header.Get("webhook-id"), typ: env.Type, taskID: env.Data.TaskID,
			outcome: env.Data.Outcome, reason: env.Data.Reason})
		if env.Data.TaskID != "" {
			r.requesters[env.Data.TaskID] = env.Data.Requester
		}
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// received returns the deliveries of one event type ("" for all).
func (r *hookReceiver) received(typ string) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, e := range r.events {
		if typ == "" || e.typ == typ {
			out = append(out, e)
		}
	}
	return out
}

// forTask returns the reset events of one task.
func (r *hookReceiver) forTask(id string) []event {
	var out []event
	for _, e := range r.received("") {
		if e.taskID == id {
			out = append(out, e)
		}
	}
	return out
}

func users(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user%02d@example.org", i)
	}
	return out
}

// requesterOf is the data.requester of a task's reset event.
func (r *hookReceiver) requesterOf(taskID string) tasks.Requester {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requesters[taskID]
}
