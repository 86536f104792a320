package main

// The harness every test of this package builds its world from: a
// configuration written as YAML, loaded, its Redis opened and a worker
// started in this process (the bundle of a Keycloak emulator, Redis,
// worker and producer most tests use is one); a command run in this
// process until it is stopped; waiting on a condition with a deadline.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/halt"
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
	// quick shortens timeout, reset_timeout and attempt_timeout to 2 s, 2 s
	// and 4 s (1 s timed a lookup out on a machine loaded 8 times over).
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
		extra += "    timeout: 2s\n    reset_timeout: 2s\n    attempt_timeout: 4s\n"
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

// configured is a configuration file, loaded, with its Redis open and a
// producer on it, closed with the test.
type configured struct {
	path   string
	cfg    *config.Config
	rdb    redis.UniversalClient
	client *producer.Client
}

// configure writes yaml to a file of the test's, loads it and connects.
func configure(t *testing.T, yaml string) *configured {
	t.Helper()
	c := &configured{path: tempFile(t, "resetq.yaml", yaml)}
	c.load(t, yaml)
	rdb, err := openRedis(c.cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	c.rdb = rdb
	c.client, err = producer.NewClient(producerConfig(c.cfg, rdb))
	require.NoError(t, err)
	return c
}

// load writes yaml over the configuration file and loads it again (the
// Redis connection stays).
func (c *configured) load(t *testing.T, yaml string) {
	t.Helper()
	require.NoError(t, os.WriteFile(c.path, []byte(yaml), 0o600))
	cfg, err := config.Load(c.path)
	require.NoError(t, err)
	c.cfg = cfg
}

// start starts a worker in this process on the configuration, logging to
// logs; it stops with the test unless stopped before.
func (c *configured) start(t *testing.T, logs *syncBuffer) *inProcess {
	t.Helper()
	w, err := startWorker(context.Background(), c.cfg, c.rdb, newLogger(c.cfg.Log, logs))
	require.NoError(t, err)
	p := &inProcess{runningWorker: w}
	t.Cleanup(p.stop)
	return p
}

// inProcess is a worker started in this process.
type inProcess struct {
	*runningWorker
	once sync.Once
}

// stop shuts the worker down, once.
func (w *inProcess) stop() { w.once.Do(w.runningWorker.stop) }

// waitReady waits until the worker is ready: its providers checked, or
// halted with a reason.
func (w *inProcess) waitReady(t *testing.T) {
	t.Helper()
	eventually(t, 10*time.Second, func() bool { ready, _ := w.Readiness(context.Background()); return ready }, "ready")
}

// cli runs the command line in this process against the configuration
// and returns its exit code and output.
func (c *configured) cli(t *testing.T, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e strings.Builder
	code = run(context.Background(), append(args, "--config", c.path), &o, &e)
	return code, o.String(), e.String()
}

// startFromYAML is configure and start: a worker on yaml.
func startFromYAML(t *testing.T, yaml string) (*configured, *inProcess) {
	t.Helper()
	c := configure(t, yaml)
	return c, c.start(t, &syncBuffer{})
}

// keycloakProvider is a line of providers: for the Keycloak realm at
// url, through client resetq and its testSecret.
func keycloakProvider(name, url, realm string) string {
	return fmt.Sprintf("  - {name: %s, type: keycloak, base_url: %q, realm: %s, auth: {client_id: resetq, client_secret: %s}}\n",
		name, url, realm, testSecret)
}

// command is `resetq ARGS…` run in this process until stop.
type command struct {
	t         *testing.T
	cancel    context.CancelFunc
	done      chan int
	out, errb syncBuffer
}

// startCommand runs the command line and waits until addr's /readyz
// answers 200.
func startCommand(t *testing.T, addr string, args ...string) *command {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &command{t: t, cancel: cancel, done: make(chan int, 1)}
	go func() { c.done <- run(ctx, args, &c.out, &c.errb) }()
	t.Cleanup(func() { cancel(); <-c.done })
	eventually(t, 10*time.Second, func() bool { return status(addr, "/readyz") == http.StatusOK }, "%v is ready: %s", args, &c.errb)
	return c
}

// stop cancels the command as a signal would and returns its exit code.
func (c *command) stop() int {
	c.t.Helper()
	// A connection a client opened and has not sent a request on holds a
	// listener's shutdown for up to 5 s (net/http treats it as busy).
	http.DefaultClient.CloseIdleConnections()
	c.cancel()
	select {
	case code := <-c.done:
		c.done <- code // for the cleanup
		return code
	case <-time.After(20 * time.Second):
		c.t.Fatal("the command did not stop")
		return -1
	}
}

// status is the status code of a GET of path at addr, or 0 if there was
// no answer.
func status(addr, path string) int {
	res, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// freeAddr is a loopback address nothing listens on, for a listener that
// must be named in a configuration before it starts.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// waitHalted waits until provider corp is halted and returns the halt.
func waitHalted(t *testing.T, rdb redis.UniversalClient, within time.Duration, format string, args ...any) *halt.State {
	t.Helper()
	reg := halt.New(rdb)
	var st *halt.State
	eventually(t, within, func() bool { st, _ = reg.Get(context.Background(), "corp"); return st != nil }, format, args...)
	return st
}

// eventually polls cond until it holds, failing the test after within.
func eventually(t *testing.T, within time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: "+format, append([]any{within}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tempFile writes content to a file of that name in the test's temporary
// directory and returns its path.
func tempFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// gathered sums a metric's samples whose labels include want.
func gathered(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				total += m.GetCounter().GetValue()
			case m.Gauge != nil:
				total += m.GetGauge().GetValue()
			case m.Histogram != nil:
				total += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return total
}

// syncBuffer is a bytes.Buffer safe for the worker's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Set replaces what the buffer holds.
func (s *syncBuffer) Set(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
	s.b.WriteString(text)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
