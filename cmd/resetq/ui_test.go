package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// uiWorker runs a worker with three providers and the given http section.
func uiWorker(t *testing.T, httpSection string) (*inProcess, *producer.Client) {
	t.Helper()
	w, client, _ := uiWorkerRedis(t, httpSection)
	return w, client
}

// uiWorkerRedis is uiWorker, with its Redis.
func uiWorkerRedis(t *testing.T, httpSection string) (*inProcess, *producer.Client, redis.UniversalClient) {
	t.Helper()
	r := redistest.Start(t)
	kc := keycloaktest.NewServer()
	t.Cleanup(kc.Close)
	var providers strings.Builder
	for _, name := range []string{"corp", "partners", "staff"} {
		kc.AddServiceAccount(name, "resetq", testSecret)
		kc.AddSampleUsers(name, 3)
		providers.WriteString(keycloakProvider(name, kc.URL(), name))
	}
	c, w := startFromYAML(t, fmt.Sprintf("redis: {url: %q}\n%sproviders:\n%s", r.URL(0), httpSection, providers.String()))
	client := c.client
	// Asynq lists a queue once a task has been on it.
	for _, name := range []string{"corp", "partners", "staff"} {
		res, err := client.Enqueue(context.Background(), producer.Request{Provider: name, User: tasks.User{Email: "user0001+reset@example.com"}})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = client.Wait(ctx, res.TaskID)
		cancel()
		require.NoError(t, err)
	}
	return w, client, c.rdb
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

// TestQueueUIHidesUsersUnlessIncludeUser: the UI shows a task's payload
// as the logs show its user, without the address unless
// log.include_user; a webhook delivery's body too.
func TestQueueUIHidesUsersUnlessIncludeUser(t *testing.T) {
	t.Parallel()
	for _, include := range []bool{false, true} {
		section := fmt.Sprintf("http: {listen: \"127.0.0.1:0\", auth: {token: ui-token-0123456789abcdef}}\nlog: {include_user: %v}\n", include)
		w, _, rdb := uiWorkerRedis(t, section)
		ac := asynq.NewClientFromRedisClient(rdb)
		t.Cleanup(func() { _ = ac.Close() })
		p := tasks.Payload{V: tasks.PayloadVersion, Requester: tasks.Requester{Actor: "app:test"}, Provider: "corp", User: tasks.User{Email: "hidden.person@example.com"},
			Actions: []string{"UPDATE_PASSWORD"}, Meta: map[string]string{"ticket": "HD-1"}, RequestedAt: time.Now().UTC()}
		body, err := p.Encode()
		require.NoError(t, err)
		info, err := ac.Enqueue(asynq.NewTask(tasks.TypeReset, body), asynq.Queue(tasks.QueueName("corp")), asynq.ProcessIn(time.Hour))
		require.NoError(t, err)
		for _, path := range []string{"/ui/api/queues/resetq-corp/scheduled_tasks", "/ui/api/queues/resetq-corp/tasks/" + info.ID} {
			req, _ := http.NewRequest("GET", "http://"+w.listener.Addr+path, nil)
			req.Header.Set("Authorization", "Bearer ui-token-0123456789abcdef")
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			require.Equal(t, 200, res.StatusCode, "%s", b)
			require.Contains(t, string(b), "HD-1", "%s shows the payload", path)
			if include {
				require.Contains(t, string(b), "hidden.person@example.com", "log.include_user: true shows the user")
			} else {
				require.NotContains(t, string(b), "hidden.person", "%s shows the user's address", path)
				require.Contains(t, string(b), "log.include_user is off")
			}
		}
	}
}

func TestUIPayloadFormatterHidesNestedUsers(t *testing.T) {
	t.Parallel()
	f := uiPayloadFormatter(false)
	delivery := `{"v":1,"endpoint":"app","id":"msg_1","type":"reset.succeeded","body":{"type":"reset.succeeded","data":{"task_id":"r-1","user":{"email":"alice@example.com"}}}}`
	out := f.FormatPayload("webhook:deliver", []byte(delivery))
	require.NotContains(t, out, "alice")
	require.Contains(t, out, `"task_id":"r-1"`)
	hashed := `{"body":{"data":{"user":{"ref":"hmac-sha256:abc"}}}}`
	require.Contains(t, f.FormatPayload("webhook:deliver", []byte(hashed)), "hmac-sha256:abc", "a keyed hash is not an address")
	require.Equal(t, "[9 bytes, not shown]", f.FormatPayload("x", []byte("alice@x.y")))
	require.Equal(t, delivery, uiPayloadFormatter(true).FormatPayload("webhook:deliver", []byte(delivery)))
}
