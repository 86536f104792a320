package main

// The pieces every test of this package builds its world from: a
// configuration written as YAML, loaded, its Redis opened and a worker
// started in this process; a command run in this process until it is
// stopped; waiting on a condition with a deadline.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/producer"
)

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
	c := &configured{path: filepath.Join(t.TempDir(), "resetq.yaml")}
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

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
