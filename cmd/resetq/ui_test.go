package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// uiWorker runs a worker with three providers and the given http section.
func uiWorker(t *testing.T, httpSection string) (*runningWorker, *producer.Client) {
	t.Helper()
	w, client, _ := uiWorkerRedis(t, httpSection)
	return w, client
}

// uiWorkerRedis is uiWorker, with its Redis.
func uiWorkerRedis(t *testing.T, httpSection string) (*runningWorker, *producer.Client, redis.UniversalClient) {
	t.Helper()
	r := redistest.Start(t)
	kc := keycloaktest.NewServer()
	t.Cleanup(kc.Close)
	var providers strings.Builder
	for _, name := range []string{"corp", "partners", "staff"} {
		kc.AddServiceAccount(name, "resetq", testSecret)
		kc.AddSampleUsers(name, 3)
		fmt.Fprintf(&providers, "  - {name: %s, type: keycloak, base_url: %q, realm: %s, auth: {client_id: resetq, client_secret: %s}}\n",
			name, kc.URL(), name, testSecret)
	}
	path := filepath.Join(t.TempDir(), "resetq.yaml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf("redis: {url: %q}\n%sproviders:\n%s", r.URL(0), httpSection, providers.String())), 0o600))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	rdb, err := openRedis(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	w, err := startWorker(context.Background(), cfg, rdb, newLogger(cfg.Log, &syncBuffer{}))
	require.NoError(t, err)
	t.Cleanup(w.stop)
	client, err := producer.NewClient(producerConfig(cfg, rdb))
	require.NoError(t, err)
	// Asynq lists a queue once a task has been on it.
	for _, name := range []string{"corp", "partners", "staff"} {
		res, err := client.Enqueue(context.Background(), producer.Request{Provider: name, User: tasks.User{Email: "user0001+reset@example.com"}})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = client.Wait(ctx, res.TaskID)
		cancel()
		require.NoError(t, err)
	}
	return w, client, rdb
}

// TestQueueUIListsEveryProviderQueue loads /ui/ in headless Chromium,
// lets its JavaScript fetch the queues, and reads the rendered page.
func TestQueueUIListsEveryProviderQueue(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("chromium")
	require.NoError(t, err, "the UI test needs Debian's chromium (apt-get install chromium)")
	w, _ := uiWorker(t, "http: {listen: \"127.0.0.1:0\"}\n")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=15000", "--dump-dom", "http://"+w.listener.Addr+"/ui/")
	out, err := cmd.Output()
	require.NoError(t, err, "chromium failed")
	page := string(out)
	require.Contains(t, page, "Asynq - Monitoring")
	require.Contains(t, page, `window.FLAG_READ_ONLY="true"`, "read-only by default")
	for _, q := range []string{"resetq-corp", "resetq-partners", "resetq-staff"} {
		require.Contains(t, page, q, "the rendered dashboard lists %s", q)
	}
}

func TestQueueUIAuthAndReadOnly(t *testing.T) {
	t.Parallel()
	token := "ui-token-0123456789abcdef"
	w, _ := uiWorker(t, fmt.Sprintf("http: {listen: \"127.0.0.1:0\", auth: {token: %s}}\n", token))
	base := "http://" + w.listener.Addr
	do := func(method, path, bearer string) int {
		req, err := http.NewRequest(method, base+path, nil)
		require.NoError(t, err)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, 401, do(http.MethodGet, "/ui/", ""))
	require.Equal(t, 401, do(http.MethodGet, "/ui/api/queues", "wrong-token-0123456789"))
	require.Equal(t, 200, do(http.MethodGet, "/ui/", token))
	require.Equal(t, 200, do(http.MethodGet, "/ui/api/queues", token))
	require.Equal(t, 200, do(http.MethodGet, "/metrics", ""), "metrics and probes stay open for Prometheus and Kubernetes")
	require.Equal(t, 200, do(http.MethodGet, "/healthz", ""))

	status := do(http.MethodPost, "/ui/api/queues/resetq-corp:pause", token)
	require.GreaterOrEqual(t, status, 400, "read-only: the UI cannot pause a queue")
	ready, checks := w.Readiness(context.Background())
	require.True(t, ready, "%v", checks)
	require.Equal(t, "ok", checks["corp"], "the queue was not paused")
}

func TestQueueUIBasicAuth(t *testing.T) {
	t.Parallel()
	w, _ := uiWorker(t, "http: {listen: \"127.0.0.1:0\", ui_read_only: false, auth: {username: ops, password: correct-horse}}\n")
	req, _ := http.NewRequest(http.MethodGet, "http://"+w.listener.Addr+"/ui/api/queues", nil)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 401, res.StatusCode)
	require.Contains(t, res.Header.Get("WWW-Authenticate"), "Basic")
	req.SetBasicAuth("ops", "correct-horse")
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
}
