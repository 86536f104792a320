package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// atExit runs after the tests, before the check for leaked goroutines:
// build-tagged suites stop what they share there (the real Keycloak).
var atExit []func()

func TestMain(m *testing.M) {
	// go-redis reports every failed dial; tests stop Redis on purpose.
	redis.SetLogger(redisLogger{slog.New(slog.DiscardHandler)})
	goleak.VerifyTestMain(runThenStop{m},
		// Idle keep-alive connections of HTTP clients outlive the tests
		// that used them until the transport is garbage.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		// After a failed dial go-redis retries in the background for up to
		// a second, then notices the pool is closed and returns.
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
	)
}

// runThenStop runs the tests, then atExit.
type runThenStop struct{ m *testing.M }

func (r runThenStop) Run() int {
	code := r.m.Run()
	for _, f := range atExit {
		f()
	}
	return code
}

const (
	testSecret = "e2e-client-secret-5f1c"
	realm      = "corp"
)

// settings shape one test's world.
type settings struct {
	users       int
	concurrency int
	// lastTry gives tasks no retries (max_retries: 0); the default is 10.
	lastTry       bool
	secret        string
	tokenLifespan time.Duration
	link          bool
	noWorker      bool
	shutdown      time.Duration
	rateLimit     string
	// quick shortens timeout, reset_timeout and attempt_timeout to 1 s, 1 s
	// and 2 s.
	quick bool
	// duplicateWindow sets the provider's duplicate_window.
	duplicateWindow string
	// webhooks is a top-level webhooks: section.
	webhooks string
	// top is any other top-level YAML (campaigns:, api:).
	top string
	// redisURL replaces the test's own redis-server (a sentinel set).
	redisURL string
}

// bundle is one test's world: its own redis-server, Keycloak emulator,
// configuration file, worker and producer.
type bundle struct {
	*configured
	t      *testing.T
	redis  *redistest.Server
	kc     *keycloaktest.Server
	sample keycloaktest.Sample
	insp   *asynq.Inspector
	logs   *syncBuffer
	w      *inProcess
}

func setup(t *testing.T, s settings) *bundle {
	t.Helper()
	if s.users == 0 {
		s.users = 30
	}
	if s.concurrency == 0 {
		s.concurrency = 10
	}
	if s.secret == "" {
		s.secret = testSecret
	}
	if s.shutdown == 0 {
		s.shutdown = 10 * time.Second
	}
	maxRetries := 10
	if s.lastTry {
		maxRetries = 0
	}
	b := &bundle{t: t, redis: redistest.Start(t), kc: keycloaktest.NewServer(), logs: &syncBuffer{}}
	t.Cleanup(b.kc.Close)
	b.kc.AddServiceAccount(realm, "resetq", testSecret)
	b.kc.AddClient(realm, keycloaktest.Client{ClientID: "web", Public: true, Enabled: true,
		RedirectURIs: []string{"https://app.example.com/*"}})
	b.sample = b.kc.AddSampleUsers(realm, s.users)
	if s.tokenLifespan > 0 {
		b.kc.SetTokenLifespan(realm, s.tokenLifespan)
	}
	extra := "" // provider settings beyond the basics
	if s.quick {
		extra += "    timeout: 1s\n    reset_timeout: 1s\n    attempt_timeout: 2s\n"
	}
	if s.duplicateWindow != "" {
		extra += "    duplicate_window: " + s.duplicateWindow + "\n"
	}
	if s.rateLimit != "" {
		extra += "    rate_limit: " + s.rateLimit + "\n"
	}
	if s.link {
		extra += "    link: {lifespan: 2h, client_id: web, redirect_uri: \"https://app.example.com/welcome\"}\n"
	}
	redisURL := s.redisURL
	if redisURL == "" {
		redisURL = b.redis.URL(0)
	}
	b.configured = configure(t, testConfig(redisURL, s.concurrency, s.shutdown, b.kc.URL(), realm, s.secret,
		fmt.Sprintf("    max_retries: %d\n", maxRetries)+extra)+s.webhooks+s.top)
	b.insp = asynq.NewInspectorFromRedisClient(b.rdb)
	if !s.noWorker {
		b.startWorker()
	}
	return b
}

// testConfig is the configuration the end-to-end tests start from: one
// worker on redisURL serving provider corp, the Keycloak realm at baseURL
// through client resetq, logging JSON at debug level; extra is more of the
// provider's settings (indented four spaces).
func testConfig(redisURL string, concurrency int, shutdown time.Duration, baseURL, realm, secret, extra string) string {
	return fmt.Sprintf(`redis:
  url: %s
worker:
  concurrency: %d
  shutdown_timeout: %s
  poll_interval: 20ms
http:
  listen: 127.0.0.1:0
log:
  format: json
  level: debug
providers:
  - name: corp
    type: keycloak
    base_url: %s
    realm: %s
    auth:
      client_id: resetq
      client_secret: %s
%s`, redisURL, concurrency, shutdown, baseURL, realm, secret, extra)
}

// writeConfig replaces the configuration file and loads it.
func (b *bundle) writeConfig(yaml string) {
	b.t.Helper()
	b.load(b.t, yaml)
}

// startWorker starts a worker in this process, logging to b.logs.
func (b *bundle) startWorker() {
	b.t.Helper()
	b.w = b.start(b.t, b.logs)
}

func (b *bundle) stopWorker() {
	b.w.stop()
	b.w = nil
}

// enqueue asks for a reset and returns the task id.
func (b *bundle) enqueue(u tasks.User, key string) string {
	b.t.Helper()
	return enqueueReset(b.t, b.client, u, key)
}

// wait returns the task's outcome, failing the test after within.
func (b *bundle) wait(id string, within time.Duration) *tasks.Result {
	b.t.Helper()
	return waitOutcome(b.t, b.client, id, within, "waiting for %s", id)
}

// enqueueReset asks provider corp for a reset of u and returns the task id.
func enqueueReset(t *testing.T, c *producer.Client, u tasks.User, key string) string {
	t.Helper()
	res, err := c.Enqueue(context.Background(), producer.Request{Provider: "corp", User: u, IdempotencyKey: key})
	require.NoError(t, err)
	return res.TaskID
}

// waitOutcome returns the task's outcome, failing the test with msgAndArgs
// after within.
func waitOutcome(t *testing.T, c *producer.Client, id string, within time.Duration, msgAndArgs ...any) *tasks.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	r, err := c.Wait(ctx, id)
	require.NoError(t, err, msgAndArgs...)
	return r
}

func (b *bundle) waitAll(ids []string, within time.Duration) map[tasks.Outcome]int {
	b.t.Helper()
	out := map[tasks.Outcome]int{}
	deadline := time.Now().Add(within)
	for _, id := range ids {
		out[b.wait(id, time.Until(deadline)).Outcome]++
	}
	return out
}

// lookups returns the user searches resets made (the start-up check's
// listing is not one).
func (b *bundle) lookups() []keycloaktest.Request {
	var out []keycloaktest.Request
	for _, r := range b.kc.RequestsTo(keycloaktest.EndpointUsers) {
		if r.Query.Get("exact") == "true" || r.Query.Has("search") {
			out = append(out, r)
		}
	}
	return out
}

// puts returns the execute-actions-email requests, by user id.
func (b *bundle) puts() map[string][]keycloaktest.Request {
	out := map[string][]keycloaktest.Request{}
	for _, r := range b.kc.RequestsTo(keycloaktest.EndpointExecuteActions) {
		id := strings.Split(strings.TrimPrefix(r.Path, "/admin/realms/corp/users/"), "/")[0]
		out[id] = append(out[id], r)
	}
	return out
}

// metric sums a metric's samples whose labels include want.
func (b *bundle) metric(name string, want map[string]string) float64 {
	b.t.Helper()
	return gathered(b.t, b.w.registry, name, want)
}

// assertNoSecretsInLogs scans everything the worker logged for the client
// secret, every token the emulator issued, every emailed link and every
// user's address.
func (b *bundle) assertNoSecretsInLogs() {
	b.t.Helper()
	logs := b.logs.String()
	require.NotEmpty(b.t, logs)
	require.NotContains(b.t, logs, testSecret)
	for _, tok := range b.kc.IssuedTokens() {
		require.NotContains(b.t, logs, tok)
	}
	for _, m := range b.kc.Mails() {
		require.NotContains(b.t, logs, m.Link)
		require.NotContains(b.t, logs, m.To)
	}
	for _, e := range b.sample.Emails {
		require.NotContains(b.t, logs, e)
	}
}
