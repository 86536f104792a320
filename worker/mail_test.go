package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/internal/metrics"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/worker"
)

// mailBundle is a worker serving provider corp against the Keycloak
// emulator, with quick retries, over its own redis-server.
type mailBundle struct {
	t      *testing.T
	kc     *keycloaktest.Server
	rdb    redis.UniversalClient
	client *producer.Client
	m      *metrics.Metrics
	emails []string
	w      *worker.Server
}

func newMailBundle(t *testing.T, users int, mutate func(*worker.Provider, *keycloak.Config)) *mailBundle {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	kc := keycloaktest.NewServer()
	t.Cleanup(kc.Close)
	kc.AddServiceAccount("corp", "resetq", "mail-test-secret")
	b := &mailBundle{t: t, kc: kc, rdb: rdb, m: metrics.New(prometheus.NewRegistry())}
	for i := range users {
		e := fmt.Sprintf("user%03d@example.org", i)
		kc.AddUser("corp", keycloaktest.User{Username: fmt.Sprintf("user%03d", i), Email: e, Enabled: true})
		b.emails = append(b.emails, e)
	}
	kcfg := keycloak.Config{BaseURL: kc.URL(), Realm: "corp", ClientID: "resetq", ClientSecret: "mail-test-secret",
		Timeout: 5 * time.Second}
	wp := worker.Provider{Name: "corp", AttemptTimeout: 10 * time.Second, Concurrency: 4}
	if mutate != nil {
		mutate(&wp, &kcfg)
	}
	kp, err := keycloak.New(kcfg)
	require.NoError(t, err)
	wp.IdP = kp
	w, err := worker.New(worker.Config{Redis: rdb, PollInterval: 10 * time.Millisecond, Providers: []worker.Provider{wp},
		RetryBase: 50 * time.Millisecond, RetryCap: 200 * time.Millisecond, InAttemptBase: 10 * time.Millisecond,
		SyncInterval: 50 * time.Millisecond, Metrics: b.m})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	b.w = w
	t.Cleanup(w.Shutdown)
	b.client, err = producer.NewClient(producer.Config{Redis: rdb, Providers: []producer.Provider{{Name: "corp", MaxRetries: 10}}})
	require.NoError(t, err)
	return b
}

func (b *mailBundle) enqueue(email string) string {
	b.t.Helper()
	res, err := b.client.Enqueue(context.Background(), producer.Request{Provider: "corp", User: tasks.User{Email: email}})
	require.NoError(b.t, err)
	return res.TaskID
}

// resets is resetq_resets_total for one outcome and reason.
func (b *mailBundle) resets(outcome tasks.Outcome, reason string) float64 {
	return testutil.ToFloat64(b.m.Resets.WithLabelValues("corp", string(outcome), reason))
}

func (b *mailBundle) wait(id string) *tasks.Result {
	b.t.Helper()
	return waitOutcome(b.t, b.client, id, 30*time.Second)
}

func TestARealmWideMailFailureHaltsBeforeAHandfulOfTasksAndResumeDeliversEachOnce(t *testing.T) {
	t.Parallel()
	b := newMailBundle(t, 40, nil)
	b.kc.SetSMTP("corp", keycloaktest.SMTPUnreachable)
	var ids []string
	for _, e := range b.emails {
		ids = append(ids, b.enqueue(e))
	}
	reg := halt.New(b.rdb)
	var st *halt.State
	require.Eventually(t, func() bool {
		st, _ = reg.Get(context.Background(), "corp")
		return st != nil
	}, 20*time.Second, 10*time.Millisecond, "the provider halts")
	require.Equal(t, "mail_failed", st.Reason)
	require.Contains(t, st.Hint, "SMTP")
	require.Contains(t, st.Message, "users' mail failed in a row")
	tried := len(b.kc.RequestsTo(keycloaktest.EndpointExecuteActions))
	// In flight: concurrency 4 plus Asynq's bookkeeping margin of 2, whose
	// tasks can still be sent in the moment between an answer and the halt.
	require.LessOrEqual(t, tried, worker.DefaultMailHaltAfter+4+2, "halted within the threshold plus what was in flight")
	require.Equal(t, 2, testutil.CollectAndCount(b.m.Resets), "no task ended: only the series made at start")
	require.Zero(t, b.resets(tasks.Succeeded, "")+b.resets(tasks.Failed, tasks.ReasonRetriesExhausted))

	// The tasks in hand settle before the resume, as they do long before
	// an operator's: a halt decided by a task still in hand can land after
	// a resume and halt the provider again (or pause its queue).
	insp := asynq.NewInspectorFromRedisClient(b.rdb)
	defer insp.Close()
	require.Eventually(t, func() bool {
		q, err := insp.GetQueueInfo(tasks.QueueName("corp"))
		return err == nil && q.Active == 0
	}, 20*time.Second, 10*time.Millisecond, "no task in hand")

	// The relay is fixed; the operator resumes.
	b.kc.SetSMTP("corp", keycloaktest.SMTPOn)
	_, err := reg.Resume(context.Background(), "corp")
	require.NoError(t, err)
	for _, id := range ids {
		require.Equal(t, tasks.Succeeded, b.wait(id).Outcome)
	}
	for _, m := range b.kc.Mails() {
		require.Equal(t, "corp", m.Realm)
	}
	sent := map[string]int{}
	for _, m := range b.kc.Mails() {
		sent[m.To]++
	}
	require.Len(t, sent, len(b.emails), "every waiting user got mail")
	for e, n := range sent {
		require.Equal(t, 1, n, "%s got one mail", e)
	}
}

func TestARecipientTheRelayRefusesIsSkippedWhileOthersGetTheirMail(t *testing.T) {
	t.Parallel()
	b := newMailBundle(t, 60, nil)
	refused := b.emails[0]
	b.kc.RefuseRecipient("corp", refused)
	ids := map[string]string{refused: b.enqueue(refused)}
	// The others come in steadily, as in a campaign, so their mail goes
	// out while the refused user's retries come and go.
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	for _, e := range b.emails[1:] {
		<-tick.C
		ids[e] = b.enqueue(e)
	}
	for e, id := range ids {
		r := b.wait(id)
		if e == refused {
			require.Equal(t, tasks.Skipped, r.Outcome, r.Error)
			require.Equal(t, tasks.ReasonRecipientRefused, r.Reason)
			require.Contains(t, r.Error, "relay refuses this recipient")
			// Skipped once it failed MailRefusedAfter times, others' mail
			// went out since, and most mail goes out: every 40 ms that is
			// soon.
			require.GreaterOrEqual(t, r.Attempts, worker.DefaultMailRefusedAfter)
			require.LessOrEqual(t, r.Attempts, worker.DefaultMailRefusedAfter+2, "not retried for long")
			continue
		}
		require.Equal(t, tasks.Succeeded, r.Outcome, "%s: %s", e, r.Error)
	}
	st, err := halt.New(b.rdb).Get(context.Background(), "corp")
	require.NoError(t, err)
	require.Nil(t, st, "one refused mailbox does not halt the provider")
	require.Equal(t, 1.0, b.resets(tasks.Skipped, tasks.ReasonRecipientRefused))
}

func TestANonASCIIAddressIsSkippedWithoutARetry(t *testing.T) {
	t.Parallel()
	b := newMailBundle(t, 1, nil)
	b.kc.AddUser("corp", keycloaktest.User{Username: "jurgen", Email: "jürgen@example.org", Enabled: true})
	r := b.wait(b.enqueue("jürgen@example.org"))
	require.Equal(t, tasks.Skipped, r.Outcome)
	require.Equal(t, tasks.ReasonRecipientRefused, r.Reason)
	require.Equal(t, 1, r.Attempts)
	require.NotContains(t, r.Error, "jürgen", "the outcome does not quote the address")
	require.Len(t, b.kc.RequestsTo(keycloaktest.EndpointExecuteActions), 1)
}

func TestAResetWhoseAnswerIsLostIsNotSentAgain(t *testing.T) {
	t.Parallel()
	b := newMailBundle(t, 1, func(_ *worker.Provider, c *keycloak.Config) { c.ResetTimeout = 300 * time.Millisecond })
	b.kc.SlowAnswers(keycloaktest.EndpointExecuteActions, 2*time.Second)
	r := b.wait(b.enqueue(b.emails[0]))
	require.Equal(t, tasks.Succeeded, r.Outcome)
	require.Equal(t, tasks.ReasonUnconfirmed, r.Reason)
	require.Contains(t, r.Error, "not confirmed: resetq may not read the realm's events (give its service account the view-events role)")
	require.Len(t, b.kc.RequestsTo(keycloaktest.EndpointExecuteActions), 1, "one request, one mail")
	require.Equal(t, 1, b.kc.TotalResets())
	require.Equal(t, 1.0, b.resets(tasks.Succeeded, tasks.ReasonUnconfirmed))
}

func TestALostAnswerIsConfirmedThroughKeycloaksAdminEvents(t *testing.T) {
	t.Parallel()
	b := newMailBundle(t, 1, func(_ *worker.Provider, c *keycloak.Config) { c.ResetTimeout = 300 * time.Millisecond })
	b.kc.AddServiceAccount("corp", "resetq", "mail-test-secret", keycloaktest.RoleManageUsers, keycloaktest.RoleViewEvents)
	b.kc.SetAdminEvents("corp", true)
	b.kc.SlowAnswers(keycloaktest.EndpointExecuteActions, 2*time.Second)
	r := b.wait(b.enqueue(b.emails[0]))
	require.Equal(t, tasks.Succeeded, r.Outcome)
	require.Empty(t, r.Reason, "confirmed by Keycloak's own record")
	require.Len(t, b.kc.RequestsTo(keycloaktest.EndpointExecuteActions), 1)
	require.NotEmpty(t, b.kc.RequestsTo(keycloaktest.EndpointAdminEvents))
}
