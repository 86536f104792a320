package webhook_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/webhook"
)

// receiver records what it gets and answers from a script.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	answers []int // status per call; 200 once they run out
	header  http.Header
}

type received struct {
	at     time.Time
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	r := &receiver{answers: answers, header: http.Header{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{time.Now(), req.Header.Clone(), body})
		status := 200
		if len(r.answers) > 0 {
			status, r.answers = r.answers[0], r.answers[1:]
		}
		for k, v := range r.header {
			w.Header()[k] = v
		}
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) calls() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// recorder is an Observer.
type recorder struct {
	mu  sync.Mutex
	out map[string]int
}

func (o *recorder) WebhookDelivery(endpoint, event, outcome string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.out[endpoint+"/"+outcome]++
}

func (o *recorder) count(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.out[key]
}

type deliveryBundle struct {
	w   *webhook.Webhooks
	obs *recorder
}

func startDelivery(t *testing.T, schedule []time.Duration, endpoints ...webhook.Endpoint) *deliveryBundle {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	obs := &recorder{out: map[string]int{}}
	w, err := webhook.New(webhook.Config{Redis: rdb, Endpoints: endpoints, Schedule: schedule, Observer: obs,
		Timeout: 5 * time.Second, ConnectTimeout: time.Second})
	require.NoError(t, err)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Concurrency: 4, Queues: map[string]int{tasks.WebhookQueueName: 1},
		TaskCheckInterval: 20 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond,
		RetryDelayFunc: w.RetryDelay, LogLevel: asynq.FatalLevel})
	mux := asynq.NewServeMux()
	mux.Handle(webhook.TypeDeliver, w)
	require.NoError(t, srv.Start(mux))
	t.Cleanup(srv.Shutdown)
	return &deliveryBundle{w: w, obs: obs}
}

func endpoint(name, url string, events ...string) webhook.Endpoint {
	return webhook.Endpoint{Name: name, URL: url, Secrets: []string{secretA}, Events: events, IncludeUser: true, AllowPrivateNetworks: true}
}

func sampleEvent(t *testing.T, typ string) webhook.Event {
	t.Helper()
	ev, err := webhook.Sample(typ, time.Now())
	require.NoError(t, err)
	return ev
}

func waitFor(t *testing.T, within time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFailuresAreRetriedWithTheSameWebhookID(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, 500, 500)
	b := startDelivery(t, []time.Duration{100 * time.Millisecond, 100 * time.Millisecond, time.Hour}, endpoint("app", r.URL))
	ev := sampleEvent(t, webhook.ResetSucceeded)
	require.NoError(t, b.w.Emit(context.Background(), ev))
	waitFor(t, 10*time.Second, func() bool { return b.obs.count("app/delivered") == 1 }, "delivered")
	calls := r.calls()
	require.Len(t, calls, 3)
	wh, err := standardwebhooks.NewWebhook(secretA)
	require.NoError(t, err)
	for _, c := range calls {
		require.Equal(t, ev.ID, c.header.Get("webhook-id"), "the same id on every attempt")
		require.NoError(t, wh.Verify(c.body, c.header), "each attempt is signed for its own timestamp")
		require.Equal(t, "application/json", c.header.Get("Content-Type"))
	}
	require.Equal(t, calls[0].body, calls[2].body, "the same bytes on every attempt")
	require.Equal(t, 2, b.obs.count("app/retried"))
}

func TestGoneDisablesTheEndpoint(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, 410)
	b := startDelivery(t, []time.Duration{100 * time.Millisecond}, endpoint("gone", r.URL))
	require.NoError(t, b.w.Emit(context.Background(), sampleEvent(t, webhook.ResetFailed)))
	waitFor(t, 10*time.Second, func() bool { return b.obs.count("gone/disabled") == 1 }, "disabled")
	st, err := b.w.States().Get(context.Background(), "gone")
	require.NoError(t, err)
	require.True(t, st.Disabled)
	require.Equal(t, "answered 410 Gone", st.DisabledReason)
	require.Equal(t, 410, st.LastStatus)

	require.NoError(t, b.w.Emit(context.Background(), sampleEvent(t, webhook.ResetSkipped)))
	require.Equal(t, 1, b.obs.count("gone/dropped"), "nothing more is queued for a disabled endpoint")
	require.Len(t, r.calls(), 1)

	was, err := b.w.States().Enable(context.Background(), "gone")
	require.NoError(t, err)
	require.True(t, was)
	require.NoError(t, b.w.Emit(context.Background(), sampleEvent(t, webhook.ResetSkipped)))
	waitFor(t, 10*time.Second, func() bool { return b.obs.count("gone/delivered") == 1 }, "delivered after enable")
}

func TestThrottlingAnswersAreWaitedOut(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, 429)
	r.header.Set("Retry-After", "2")
	b := startDelivery(t, []time.Duration{100 * time.Millisecond}, endpoint("slow", r.URL))
	require.NoError(t, b.w.Emit(context.Background(), sampleEvent(t, webhook.ProviderHalted)))
	waitFor(t, 15*time.Second, func() bool { return b.obs.count("slow/delivered") == 1 }, "delivered")
	calls := r.calls()
	require.Len(t, calls, 2)
	require.GreaterOrEqual(t, calls[1].at.Sub(calls[0].at), 2*time.Second, "Retry-After: 2 beats a 100 ms schedule")
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	target := newReceiver(t)
	r := newReceiver(t, 302, 302)
	r.header.Set("Location", target.URL)
	b := startDelivery(t, []time.Duration{50 * time.Millisecond}, endpoint("moved", r.URL))
	require.NoError(t, b.w.Emit(context.Background(), sampleEvent(t, webhook.ResetSucceeded)))
	waitFor(t, 10*time.Second, func() bool { return b.obs.count("moved/failed") == 1 }, "failed after its retries")
	require.Empty(t, target.calls(), "the redirect's target was never called")
	st, _ := b.w.States().Get(context.Background(), "moved")
	require.Contains(t, st.LastError, "redirects are not followed")
}

func TestFanOutFiltersAndUserHashing(t *testing.T) {
	t.Parallel()
	all, failures, hashed := newReceiver(t), newReceiver(t), newReceiver(t)
	h := endpoint("hashed", hashed.URL)
	h.IncludeUser = false
	b := startDelivery(t, nil, endpoint("all", all.URL), endpoint("failures", failures.URL, webhook.ResetFailed), h)
	ev := sampleEvent(t, webhook.ResetSucceeded)
	require.NoError(t, b.w.Emit(context.Background(), ev))
	require.NoError(t, b.w.Emit(context.Background(), ev), "emitting again while pending queues nothing more")
	waitFor(t, 10*time.Second, func() bool { return len(all.calls()) == 1 && len(hashed.calls()) == 1 }, "fan-out")
	require.Empty(t, failures.calls(), "not subscribed to reset.succeeded")

	var plain, hidden struct {
		Data struct {
			User map[string]string `json:"user"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(all.calls()[0].body, &plain))
	require.Equal(t, "alice@example.com", plain.Data.User["email"])
	body := hashed.calls()[0].body
	require.NoError(t, json.Unmarshal(body, &hidden))
	require.NotContains(t, string(body), "alice")
	key, _ := decodeSecret(secretA)
	require.Equal(t, webhook.UserRef(key, tasks.User{Email: "alice@example.com"}), hidden.Data.User["ref"],
		"the receiver can compute the ref of an address it knows")
}

func decodeSecret(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
}
