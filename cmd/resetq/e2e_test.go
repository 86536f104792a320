package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/internal/outcomes"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/worker"
)

func TestOneResetSendsExactlyOnePutWithTheRightBodyQueryAndBearer(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{link: true})
	email := b.sample.Emails[4]
	r := b.wait(b.enqueue(tasks.User{Email: strings.ToUpper(email)}, "HD-4411"), 10*time.Second)
	require.Equal(t, tasks.Succeeded, r.Outcome)
	require.Equal(t, 1, r.Attempts)

	puts := b.kc.RequestsTo(keycloaktest.EndpointExecuteActions)
	require.Len(t, puts, 1)
	put := puts[0]
	require.Equal(t, http.MethodPut, put.Method)
	require.Equal(t, "/admin/realms/corp/users/"+b.kc.UserID(realm, strings.TrimSuffix(email, "@example.com"))+"/execute-actions-email", put.Path)
	require.JSONEq(t, `["UPDATE_PASSWORD"]`, string(put.Body), "a bare JSON array, not an object")
	require.Equal(t, "application/json", put.Header.Get("Content-Type"))
	require.Equal(t, "7200", put.Query.Get("lifespan"))
	require.Equal(t, "web", put.Query.Get("client_id"))
	require.Equal(t, "https://app.example.com/welcome", put.Query.Get("redirect_uri"))
	require.Contains(t, b.kc.IssuedTokens(), put.Bearer, "the bearer is a token Keycloak issued")
	require.True(t, strings.HasPrefix(put.Header.Get("User-Agent"), "resetq/"))
	require.Equal(t, 204, put.Status)

	lookup := b.lookups()
	require.Len(t, lookup, 1)
	require.Equal(t, "true", lookup[0].Query.Get("exact"))
	require.Equal(t, "true", lookup[0].Query.Get("briefRepresentation"))
	require.Equal(t, "2", lookup[0].Query.Get("max"))

	mails := b.kc.Mails()
	require.Len(t, mails, 1)
	require.Equal(t, email, mails[0].To)
	require.Equal(t, 1.0, b.metric("resetq_resets_total", map[string]string{"outcome": "succeeded"}))
	b.assertNoSecretsInLogs()
}

func TestPlusAddressSurvivesEncoding(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{})
	r := b.wait(b.enqueue(tasks.User{Email: b.sample.Plus}, ""), 10*time.Second)
	require.Equal(t, tasks.Succeeded, r.Outcome)
	require.Equal(t, b.sample.Plus, b.kc.Mails()[0].To)
}

func TestFiveHundredResetsUseOneToken(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{users: 500, concurrency: 20})
	var ids []string
	for i, e := range b.sample.Emails {
		ids = append(ids, b.enqueue(tasks.User{Email: e}, fmt.Sprint(i)))
	}
	for _, u := range []string{b.sample.NoEmail} {
		ids = append(ids, b.enqueue(tasks.User{Username: u}, "noemail"))
	}
	for i := len(ids); i < 500; i++ {
		ids = append(ids, b.enqueue(tasks.User{Email: b.sample.Disabled[i%len(b.sample.Disabled)]}, fmt.Sprint(i)))
	}
	require.Len(t, ids, 500)
	got := b.waitAll(ids, 60*time.Second)
	require.Equal(t, len(b.sample.Emails), got[tasks.Succeeded])
	require.Equal(t, 500-len(b.sample.Emails), got[tasks.Skipped])
	require.Equal(t, 1, b.kc.TokenRequests(), "a 300 s token serves the whole batch")
	require.Equal(t, 1, b.kc.MaxConcurrentTokenRequests())
	require.Equal(t, 1.0, b.metric("resetq_token_requests_total", map[string]string{"result": "success"}))
}

func TestTokensExpiringEverySecondFailNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{users: 200, concurrency: 5, tokenLifespan: time.Second})
	b.kc.SetLatency(12 * time.Millisecond) // 200 resets × 2 calls / 5 workers ≈ 1 s and more
	var ids []string
	for i := range 200 {
		ids = append(ids, b.enqueue(tasks.User{Email: b.sample.Emails[i%len(b.sample.Emails)]}, fmt.Sprint(i)))
	}
	got := b.waitAll(ids, 60*time.Second)
	require.Equal(t, 200, got[tasks.Succeeded], "%v", got)
	require.Zero(t, got[tasks.Failed])
	require.GreaterOrEqual(t, b.kc.TokenRequests(), 2, "tokens were replaced as they aged")
	require.Equal(t, 1, b.kc.MaxConcurrentTokenRequests(), "one fetch in flight at a time")
	require.Equal(t, 200, b.kc.TotalResets())
}

func TestRateLimitedEveryThirdCallAllSucceedAndRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{users: 30})
	b.kc.RateLimitEvery(keycloaktest.EndpointExecuteActions, 3, time.Second)
	var ids []string
	for i, e := range b.sample.Emails[:24] {
		ids = append(ids, b.enqueue(tasks.User{Email: e}, fmt.Sprint(i)))
	}
	got := b.waitAll(ids, 60*time.Second)
	require.Equal(t, 24, got[tasks.Succeeded], "%v", got)

	limited := 0
	for user, reqs := range b.puts() {
		for i, r := range reqs {
			if r.Status != http.StatusTooManyRequests {
				continue
			}
			limited++
			require.Greater(t, len(reqs), i+1, "user %s was retried after the 429", user)
			gap := reqs[i+1].Time.Sub(r.Time)
			require.GreaterOrEqual(t, gap, time.Second, "Retry-After: 1 was honoured for %s", user)
		}
		require.Equal(t, 1, b.kc.ResetCount(user), "one email per user")
	}
	require.GreaterOrEqual(t, limited, 7)
	require.GreaterOrEqual(t, b.metric("resetq_ratelimit_wait_seconds", nil), float64(limited))
	require.Zero(t, b.metric("resetq_resets_total", map[string]string{"outcome": "failed"}))
}

// A mail failure is retried across attempts, with the backoff between: a
// relay that hiccups gets time, one that is down gets no burst of retries.
// (One failure proves the backoff comes between attempts; the worker's own
// tests count attempts and the backoff's growth.)
func TestSMTPTransportErrorIsRetriedAfterTheBackoff(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{})
	b.kc.FailNext(keycloaktest.EndpointExecuteActions, 1, 500,
		`{"errorMessage":"Failed to send execute actions email: Error when attempting to send the email to the server. More information is available in the server log."}`)
	r := b.wait(b.enqueue(tasks.User{Email: b.sample.Emails[0]}, ""), 60*time.Second)
	require.Equal(t, tasks.Succeeded, r.Outcome)
	require.Equal(t, 2, r.Attempts)
	puts := b.kc.RequestsTo(keycloaktest.EndpointExecuteActions)
	require.Len(t, puts, 2)
	require.Equal(t, []int{500, 204}, []int{puts[0].Status, puts[1].Status})
	// The backoff is 10 s ± 20 %, so at least 8 s; Asynq keeps a retry's
	// time in whole seconds (the score is the Unix second, truncated), so
	// the retry may run up to a second before the instant the worker chose.
	require.GreaterOrEqual(t, puts[1].Time.Sub(puts[0].Time), 7*time.Second, "the backoff (10 s ± 20 %%, kept to the second) came between")
	require.Equal(t, 1, b.kc.TotalResets())
}

func TestSMTPNotConfiguredHaltsTheProviderThenResumeFinishesEverything(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{users: 30, concurrency: 4})
	b.kc.SetSMTP(realm, keycloaktest.SMTPOff)
	var ids []string
	for i, e := range b.sample.Emails[:20] {
		ids = append(ids, b.enqueue(tasks.User{Email: e}, fmt.Sprint(i)))
	}
	st := waitHalted(t, b.rdb, 10*time.Second, "provider halted")
	require.Equal(t, "configuration", st.Reason)
	require.Contains(t, st.Hint, "Realm settings → Email")
	info, err := b.insp.GetQueueInfo(tasks.QueueName("corp"))
	require.NoError(t, err)
	require.True(t, info.Paused, "the queue is paused")
	eventually(t, 5*time.Second, func() bool {
		return b.metric("resetq_provider_halted", map[string]string{"provider": "corp"}) == 1
	}, "halted gauge")

	// Nothing failed and nothing was thrown away: every task still waits.
	require.Zero(t, b.metric("resetq_resets_total", map[string]string{"outcome": "failed"}))
	for _, id := range ids {
		s, err := b.client.Status(context.Background(), id)
		require.NoError(t, err)
		require.NotEqual(t, "done", s.State)
		require.NotEqual(t, "archived", s.State)
	}
	// A task waiting for its place at the IdP may take it as the first
	// answer comes back, before that answer has halted the provider: the
	// bound is the tasks in hand (concurrency 4 and Asynq's 2 more), not
	// the concurrency.
	require.LessOrEqual(t, len(b.kc.RequestsTo(keycloaktest.EndpointExecuteActions)), 4+2, "at most the tasks in hand tried")
	require.Equal(t, 1, strings.Count(b.logs.String(), "provider halted"), "one clear line, not one per task")

	b.kc.SetSMTP(realm, keycloaktest.SMTPOn)
	code, out, errOut := b.cli("provider", "resume", "corp")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "provider corp resumed")

	got := b.waitAll(ids, 30*time.Second)
	require.Equal(t, 20, got[tasks.Succeeded], "%v", got)
	require.Equal(t, 20, b.kc.TotalResets(), "each user exactly one email")
	eventually(t, 5*time.Second, func() bool {
		return b.metric("resetq_provider_halted", map[string]string{"provider": "corp"}) == 0
	}, "halted gauge cleared")
	b.assertNoSecretsInLogs()
}

func TestHaltOnTheLastAttemptIsPutBackByResume(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{users: 12, concurrency: 4, lastTry: true})
	b.kc.SetSMTP(realm, keycloaktest.SMTPOff)
	var ids []string
	for i, e := range b.sample.Emails[:6] {
		ids = append(ids, b.enqueue(tasks.User{Email: e}, fmt.Sprint(i)))
	}
	eventually(t, 10*time.Second, func() bool {
		info, err := b.insp.GetQueueInfo(tasks.QueueName("corp"))
		return err == nil && info.Paused && info.Active == 0 && info.Archived > 0
	}, "the tasks in flight were archived by Asynq (no retries left)")
	require.Zero(t, b.metric("resetq_resets_total", map[string]string{"outcome": "failed"}))

	b.kc.SetSMTP(realm, keycloaktest.SMTPOn)
	res, err := halt.New(b.rdb).Resume(context.Background(), "corp")
	require.NoError(t, err)
	require.NotNil(t, res.Was)
	require.Positive(t, res.Requeued)
	got := b.waitAll(ids, 30*time.Second)
	require.Equal(t, 6, got[tasks.Succeeded], "%v", got)
}

func TestWrongClientSecretHaltsInsteadOfFailing(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{secret: "not-the-secret", noWorker: true})
	var ids []string
	for i, e := range b.sample.Emails[:10] {
		ids = append(ids, b.enqueue(tasks.User{Email: e}, fmt.Sprint(i)))
	}
	b.startWorker()
	st := waitHalted(t, b.rdb, 10*time.Second, "halted")
	require.Equal(t, "credentials_rejected", st.Reason)
	require.Contains(t, st.Hint, "auth.client_secret")
	require.Zero(t, b.metric("resetq_resets_total", map[string]string{"outcome": "failed"}))
	require.Empty(t, b.kc.RequestsTo(keycloaktest.EndpointExecuteActions))
	ready, checks := b.w.Readiness(context.Background())
	require.True(t, ready, "halted with a reason counts as ready: %v", checks)
	require.NotContains(t, b.logs.String(), "not-the-secret")

	// The operator fixes the secret, restarts the worker and resumes.
	b.stopWorker()
	b.writeConfig(strings.Replace(mustRead(t, b.path), "not-the-secret", testSecret, 1))
	b.startWorker()
	code, _, errOut := b.cli("provider", "resume", "corp")
	require.Equal(t, exitOK, code, errOut)
	got := b.waitAll(ids, 30*time.Second)
	require.Equal(t, 10, got[tasks.Succeeded])
}

func TestUnknownUserIsSkippedWithoutRetryAndWithoutAPut(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{})
	id := b.enqueue(tasks.User{Email: "nobody@example.com"}, "")
	r := b.wait(id, 10*time.Second)
	require.Equal(t, tasks.Skipped, r.Outcome)
	require.Equal(t, tasks.ReasonUserNotFound, r.Reason)
	require.Equal(t, 1, r.Attempts)
	require.Empty(t, b.kc.RequestsTo(keycloaktest.EndpointExecuteActions))
	require.Len(t, b.lookups(), 1, "looked up once, not retried")
	eventually(t, 5*time.Second, func() bool {
		_, err := b.insp.GetTaskInfo(tasks.QueueName("corp"), id)
		return errors.Is(err, asynq.ErrTaskNotFound)
	}, "completed: a skip is no failure, and Asynq keeps nothing of it")
	q, err := b.insp.GetQueueInfo(tasks.QueueName("corp"))
	require.NoError(t, err)
	require.Zero(t, q.Failed+q.Archived, "not a failure in Asynq's counters (the queue UI's error rate)")
	require.Equal(t, 1.0, b.metric("resetq_resets_total", map[string]string{"outcome": "skipped", "reason": "user_not_found"}))
}

func TestMalformedPayloadIsArchivedWithAClearError(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{})
	c := asynq.NewClientFromRedisClient(b.rdb)
	q := tasks.QueueName("corp")
	bad := map[string]string{
		tasks.RandomTaskID(): `{"v":1,"provider":"corp","user":{},"actions":[],"campaign":"","idempotency_key":"","meta":{},"requested_at":"2026-11-22T10:00:00Z"}`,
		tasks.RandomTaskID(): `this is not json`,
		tasks.RandomTaskID(): `{"v":1,"provider":"other","user":{"email":"a@example.com"},"actions":[],"requested_at":"2026-11-22T10:00:00Z"}`,
	}
	want := map[string]string{}
	for id, body := range bad {
		_, err := c.Enqueue(asynq.NewTask(tasks.TypeReset, []byte(body)), asynq.TaskID(id), asynq.Queue(q), asynq.MaxRetry(5))
		require.NoError(t, err)
		switch {
		case strings.Contains(body, `"user":{}`):
			want[id] = "invalid_payload: invalid payload: user: one of email, username or id is required"
		case strings.Contains(body, "other"):
			want[id] = `unknown_provider: payload names provider "other"`
		default:
			want[id] = "invalid_payload: invalid payload: payload is not valid JSON"
		}
	}
	for id, w := range want {
		eventually(t, 10*time.Second, func() bool {
			info, err := b.insp.GetTaskInfo(q, id)
			return err == nil && info.State == asynq.TaskStateArchived
		}, "archived")
		info, err := b.insp.GetTaskInfo(q, id)
		require.NoError(t, err)
		require.Contains(t, info.LastErr, w)
		require.Zero(t, info.Retried, "not retried")
		r := b.wait(id, time.Second)
		require.Equal(t, tasks.Failed, r.Outcome)
	}
	require.Empty(t, b.lookups(), "no IdP call for a malformed task")
	require.Empty(t, b.kc.RequestsTo(keycloaktest.EndpointExecuteActions))
	require.NotContains(t, b.logs.String(), "a@example.com")
}

func TestDuplicateIdempotencyKeySendsOnePut(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{})
	u := tasks.User{Email: b.sample.Emails[2]}
	req := func() (string, bool) {
		res, err := b.client.Enqueue(context.Background(), producer.Request{Provider: "corp", User: u, IdempotencyKey: "HD-1"})
		require.NoError(t, err)
		return res.TaskID, res.Duplicate
	}
	id1, dup1 := req()
	id2, dup2 := req()
	require.False(t, dup1)
	require.True(t, dup2)
	require.Equal(t, id1, id2)
	require.Equal(t, tasks.Succeeded, b.wait(id1, 10*time.Second).Outcome)
	id3, dup3 := req()
	require.True(t, dup3, "still a duplicate after it finished")
	require.Equal(t, id1, id3)
	require.Len(t, b.kc.RequestsTo(keycloaktest.EndpointExecuteActions), 1)
}

func TestRedeliveredTaskIsNotSentAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{})
	// As if a worker got 204 and recorded it, then died before acking.
	id := tasks.RandomTaskID()
	require.NoError(t, outcomes.New(b.rdb, time.Hour).Put(context.Background(), tasks.Result{
		TaskID: id, Provider: "corp", Outcome: tasks.Succeeded, Attempts: 1, FinishedAt: time.Now()}))
	p := tasks.Payload{V: 1, Provider: "corp", User: tasks.User{Email: b.sample.Emails[0]}, RequestedAt: time.Now()}
	body, err := p.Encode()
	require.NoError(t, err)
	_, err = asynq.NewClientFromRedisClient(b.rdb).Enqueue(asynq.NewTask(tasks.TypeReset, body),
		asynq.TaskID(id), asynq.Queue(tasks.QueueName("corp")))
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() bool {
		_, err := b.insp.GetTaskInfo(tasks.QueueName("corp"), id)
		return err != nil // done and gone
	}, "the task completed")
	require.Empty(t, b.kc.RequestsTo(keycloaktest.EndpointExecuteActions))
	require.Contains(t, b.logs.String(), "not sending it again")
}

// fourInFlight makes every IdP call take latency and returns four resets
// once all four are in flight (the worker's concurrency is 4).
func (b *bundle) fourInFlight(latency time.Duration) []string {
	b.t.Helper()
	b.kc.SetLatency(latency)
	var ids []string
	for i, e := range b.sample.Emails[:4] {
		ids = append(ids, b.enqueue(tasks.User{Email: e}, fmt.Sprint(i)))
	}
	eventually(b.t, 10*time.Second, func() bool { return len(b.lookups()) == 4 }, "4 in flight")
	return ids
}

func TestShutdownFinishesResetsInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{concurrency: 4})
	ids := b.fourInFlight(300 * time.Millisecond)
	b.stopWorker()
	for _, id := range ids {
		r := b.wait(id, time.Second)
		require.Equal(t, tasks.Succeeded, r.Outcome, "finished during the shutdown")
	}
}

func TestShutdownTimeoutRequeuesInsteadOfFailing(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{concurrency: 4, shutdown: 200 * time.Millisecond})
	ids := b.fourInFlight(3 * time.Second)
	b.stopWorker()
	for _, id := range ids {
		s, err := b.client.Status(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, "pending", s.State, "put back, not failed")
	}
	b.kc.SetLatency(0)
	b.startWorker()
	got := b.waitAll(ids, 30*time.Second)
	require.Equal(t, 4, got[tasks.Succeeded])
	require.Equal(t, 4, b.kc.TotalResets(), "no user got two emails")
}

func TestMetricsAreLintCleanAndServed(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{})
	b.wait(b.enqueue(tasks.User{Email: b.sample.Emails[0]}, ""), 10*time.Second)
	b.wait(b.enqueue(tasks.User{Email: "nobody@example.com"}, ""), 10*time.Second)
	problems, err := testutil.GatherAndLint(b.w.registry)
	require.NoError(t, err)
	require.Empty(t, problems)

	get := func(path string) (int, string) {
		res, err := http.Get("http://" + b.w.listener.Addr + path)
		require.NoError(t, err)
		defer res.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(res.Body)
		return res.StatusCode, buf.String()
	}
	code, body := get("/metrics")
	require.Equal(t, 200, code)
	for _, name := range []string{"resetq_resets_total", "resetq_reset_duration_seconds", "resetq_idp_requests_total",
		"resetq_idp_request_duration_seconds", "resetq_token_requests_total", "resetq_provider_halted",
		"resetq_build_info", "go_goroutines", "process_resident_memory_bytes"} {
		require.Contains(t, body, name)
	}
	require.Contains(t, body, `resetq_idp_requests_total{code="204",operation="reset",provider="corp"} 1`)
	require.NotContains(t, body, "@example.com", "no user in a label")

	code, body = get("/healthz")
	require.Equal(t, 200, code)
	require.Equal(t, "ok\n", body)
	eventually(t, 5*time.Second, func() bool { c, _ := get("/readyz"); return c == 200 }, "ready")
	_, body = get("/readyz")
	var rz struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &rz))
	require.True(t, rz.Ready)
	require.Equal(t, "ok", rz.Checks["corp"])
	require.Equal(t, "ok", rz.Checks["redis"])

	b.redis.Stop()
	c, body := get("/readyz")
	require.Equal(t, 503, c, body)
	require.Contains(t, body, "unreachable")
}

func TestReadyzWaitsForAnUnreachableProvider(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{noWorker: true})
	b.kc.FailNext(keycloaktest.EndpointToken, 1000, 503, "")
	b.startWorker()
	eventually(t, 5*time.Second, func() bool { return strings.Contains(b.logs.String(), "provider check could not reach") }, "check tried")
	ready, checks := b.w.Readiness(context.Background())
	require.False(t, ready)
	require.Contains(t, checks["corp"], "start-up check has not passed")
	st, err := halt.New(b.rdb).Get(context.Background(), "corp")
	require.NoError(t, err)
	require.Nil(t, st, "an unreachable IdP is not a halt")
}

func TestRateLimitIsAPaceTheIdPNeverExceeds(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{users: 60, concurrency: 10, rateLimit: "20/s"})
	b.w.waitReady(t)
	var ids []string
	start := time.Now()
	for i, e := range b.sample.Emails[:40] {
		ids = append(ids, b.enqueue(tasks.User{Email: e}, fmt.Sprint(i)))
	}
	got := b.waitAll(ids, 30*time.Second)
	elapsed := time.Since(start)
	require.Equal(t, 40, got[tasks.Succeeded])
	require.GreaterOrEqual(t, elapsed, 1900*time.Millisecond, "40 resets at 20/s take about 2 s")

	// No sliding one-second window holds more than the limit and its
	// burst.
	var times []time.Time
	for _, r := range b.kc.RequestsTo(keycloaktest.EndpointExecuteActions) {
		times = append(times, r.Time)
	}
	for i := range times {
		n := 0
		for _, u := range times[i:] {
			if u.Sub(times[i]) < time.Second {
				n++
			}
		}
		require.LessOrEqual(t, n, 20+worker.Pace(20, time.Second).Burst, "resets in the second after %s", times[i])
	}
	require.Positive(t, b.metric("resetq_ratelimit_wait_seconds", nil))
	require.Zero(t, b.metric("resetq_resets_total", map[string]string{"outcome": "failed"}))
}

func TestTransientErrorsOnTheLastTryEndFailed(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{lastTry: true, quick: true})
	b.kc.Inject(keycloaktest.Fault{Endpoint: keycloaktest.EndpointExecuteActions, Status: 502, Body: `<html>Bad Gateway</html>`})
	r := b.wait(b.enqueue(tasks.User{Email: b.sample.Emails[0]}, ""), 20*time.Second)
	require.Equal(t, tasks.Failed, r.Outcome)
	require.Equal(t, tasks.ReasonRetriesExhausted, r.Reason)
	require.Contains(t, r.Error, "HTTP 502")
	require.GreaterOrEqual(t, len(b.kc.RequestsTo(keycloaktest.EndpointExecuteActions)), 2, "retried within the attempt first")
	require.Equal(t, 1.0, b.metric("resetq_resets_total", map[string]string{"outcome": "failed", "reason": "retries_exhausted"}))
	require.Contains(t, b.logs.String(), `"msg":"reset failed"`)
}

func TestDuplicateWindowSkipsASecondResetOfTheSameUser(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{duplicateWindow: "15m"})
	email := b.sample.Emails[3]
	first := b.wait(b.enqueue(tasks.User{Email: email}, "ticket-1"), 10*time.Second)
	require.Equal(t, tasks.Succeeded, first.Outcome)
	second := b.wait(b.enqueue(tasks.User{Email: strings.ToUpper(email)}, "ticket-2"), 10*time.Second)
	require.Equal(t, tasks.Skipped, second.Outcome)
	require.Equal(t, tasks.ReasonRecentlyReset, second.Reason)
	require.Contains(t, second.Error, "duplicate window of 15m0s")
	require.Len(t, b.kc.RequestsTo(keycloaktest.EndpointExecuteActions), 1, "one email")

	// Nothing went out for an unknown user, so the window does not hold.
	for i := range 2 {
		r := b.wait(b.enqueue(tasks.User{Email: "nobody@example.com"}, fmt.Sprint("unknown-", i)), 10*time.Second)
		require.Equal(t, tasks.ReasonUserNotFound, r.Reason)
	}
	keys, err := b.rdb.Keys(context.Background(), "resetq:recent:*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1, "only the user who got an email holds a claim")
	require.NotContains(t, keys[0], email, "the key does not name the user")
}
