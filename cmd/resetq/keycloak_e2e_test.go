//go:build e2e

package main

// End to end against the real Keycloak (make e2e): a real `resetq worker`
// process, a real redis-server, Keycloak 26.7.3 from Maven Central, and
// the realm's mail through a small relay of our own into a real Mailpit.
// Each test has a realm of its own on the one Keycloak the process shares.

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/internal/realidp"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

func init() { atExit = append(atExit, realidp.StopTestKeycloak) }

// kcWorld is one test's world: its realm, Redis, configuration and worker.
type kcWorld struct {
	*configured
	t      *testing.T
	realm  *realidp.Realm
	worker *process
}

type kcSettings struct {
	concurrency int
	// provider is extra YAML under the provider (indented four spaces).
	provider string
	noWorker bool
}

func newKCWorld(t *testing.T, s kcSettings) *kcWorld {
	t.Helper()
	if s.concurrency == 0 {
		s.concurrency = 4
	}
	w := &kcWorld{t: t, realm: realidp.NewTestRealm(t, realidp.TestKeycloak(t))}
	srv := redistest.Start(t)
	w.configured = configure(t, testConfig(srv.URL(0), s.concurrency, 30*time.Second,
		w.realm.KC.URL(), w.realm.Name, realidp.E2EClientSecret, s.provider))
	if !s.noWorker {
		w.worker = startWorkerProcess(t, w.path)
	}
	return w
}

// metric reads a sum of samples from the worker's /metrics.
func (w *kcWorld) metric(name string, want map[string]string) float64 {
	w.t.Helper()
	m := regexp.MustCompile(`"listen":"([^"]+)"`).FindStringSubmatch(w.worker.logs.String())
	require.NotNil(w.t, m, "the worker logs its listener")
	return gathered(w.t, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		res, err := http.Get("http://" + m[1] + "/metrics")
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		p := expfmt.NewTextParser(model.UTF8Validation)
		byName, err := p.TextToMetricFamilies(res.Body)
		var out []*dto.MetricFamily
		for _, mf := range byName {
			out = append(out, mf)
		}
		return out, err
	}), name, want)
}

// cli runs a resetq command against the world's configuration.
func (w *kcWorld) cli(args ...string) (int, string, string) {
	w.t.Helper()
	return w.configured.cli(w.t, args...)
}

func (w *kcWorld) enqueue(email string) string {
	w.t.Helper()
	return enqueueReset(w.t, w.client, tasks.User{Email: email}, "")
}

func (w *kcWorld) wait(id string, within time.Duration) *tasks.Result {
	w.t.Helper()
	return waitOutcome(w.t, w.client, id, within, "task %s has no outcome; the worker's log:\n%s", id, w.worker.logs)
}

// mailsTo returns the mails that reached Mailpit for addr.
func (w *kcWorld) mailsTo(addr string) []realidp.Message {
	w.t.Helper()
	msgs, err := w.realm.Mail.To(context.Background(), addr)
	require.NoError(w.t, err)
	return msgs
}

var actionLink = regexp.MustCompile(`https?://\S+/login-actions/action-token\?key=[\w.-]+`)

// The whole way, as a user lives it: one reset is one mail, its link opens
// Keycloak's update-password page, the new password works and the old one
// does not.
func TestKeycloakOneResetIsOneMailWhoseLinkSetsANewPassword(t *testing.T) {
	t.Parallel()
	w := newKCWorld(t, kcSettings{})
	code, out, errOut := w.cli("enqueue", "--provider", "corp", "--email", "Alice@Example.org", "--wait", "2m", "--output", "json")
	require.Equal(t, exitOK, code, "%s%s", out, errOut)
	var res struct {
		Outcome tasks.Outcome `json:"outcome"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Equal(t, tasks.Succeeded, res.Outcome)

	// Exactly one mail, to alice, and to nobody else.
	all, err := w.realm.Mail.Messages(context.Background())
	require.NoError(t, err)
	require.Len(t, all, 1)
	mails := w.mailsTo("alice@example.org")
	require.Len(t, mails, 1)
	text, _, err := w.realm.Mail.Body(context.Background(), mails[0].ID)
	require.NoError(t, err)
	link := actionLink.FindString(text)
	require.NotEmpty(t, link, "the mail carries the action link:\n%s", text)
	require.Contains(t, link, w.realm.KC.URL()+"/realms/"+w.realm.Name+"/")
	require.NotContains(t, w.worker.logs.String(), "action-token", "the link never reaches resetq's log")

	// The link: Keycloak's page, then the update-password form.
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar, Timeout: time.Minute}
	page := get(t, browser, link)
	require.Contains(t, page, "Update Password")
	if next := regexp.MustCompile(`href="([^"]*login-actions/action-token[^"]*)"`).FindStringSubmatch(page); next != nil {
		page = get(t, browser, html.UnescapeString(next[1])) // "Click here to proceed"
	}
	form := regexp.MustCompile(`<form id="kc-passwd-update-form"[^>]*action="([^"]+)"`).FindStringSubmatch(page)
	require.NotNil(t, form, "the update-password form:\n%s", page)
	const newPassword = "n3w-Passw0rd-after-reset"
	res2, err := browser.PostForm(html.UnescapeString(form[1]), url.Values{"password-new": {newPassword}, "password-confirm": {newPassword}})
	require.NoError(t, err)
	b, _ := io.ReadAll(res2.Body)
	res2.Body.Close()
	require.Equal(t, http.StatusOK, res2.StatusCode)
	require.Contains(t, string(b), "Account updated")

	// The new password opens a session; the old one no longer does.
	token := func(password string) (int, string) {
		form := url.Values{"grant_type": {"password"}, "client_id": {"web"}, "username": {"alice"}, "password": {password}}
		res, err := http.PostForm(w.realm.KC.URL()+"/realms/"+w.realm.Name+"/protocol/openid-connect/token", form)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	status, body := token(newPassword)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, `"access_token"`)
	status, body = token(realidp.E2EAlicePassword)
	require.Equal(t, http.StatusBadRequest, status, body)
	require.Contains(t, body, "invalid_grant")
}

func get(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	res, err := c.Get(u)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", b)
	return string(b)
}

// A relay that takes 35 s over a mail (7 s at each of five steps, each
// inside Keycloak's 10 s timeout): Keycloak sends it, and resetq, waiting
// long enough, records one mail, not two.
func TestKeycloakAMailThatTakes35SecondsIsSentOnce(t *testing.T) {
	t.Parallel()
	stall := func(w *kcWorld) {
		w.realm.Relay.SetDelay(func(step string) time.Duration {
			switch step {
			case realidp.StepGreeting, realidp.StepEHLO, realidp.StepMail, realidp.StepRcpt, realidp.StepDot:
				return 7 * time.Second
			}
			return 0
		})
	}
	t.Run("resetq waits it out", func(t *testing.T) {
		t.Parallel()
		w := newKCWorld(t, kcSettings{})
		stall(w)
		start := time.Now()
		r := w.wait(w.enqueue("alice@example.org"), 3*time.Minute)
		require.Equal(t, tasks.Succeeded, r.Outcome)
		require.Empty(t, r.Reason, "confirmed by Keycloak's own 204")
		require.Equal(t, 1, r.Attempts)
		require.GreaterOrEqual(t, time.Since(start), 35*time.Second)
		require.Len(t, w.mailsTo("alice@example.org"), 1)
	})
	t.Run("an operator's short reset_timeout", func(t *testing.T) {
		t.Parallel()
		w := newKCWorld(t, kcSettings{provider: "    reset_timeout: 10s\n"})
		stall(w)
		r := w.wait(w.enqueue("alice@example.org"), 3*time.Minute)
		require.Equal(t, tasks.Succeeded, r.Outcome)
		require.Equal(t, tasks.ReasonUnconfirmed, r.Reason, "the answer was lost: not sent again")
		// Keycloak finishes the mail after resetq gave up on it.
		require.Eventually(t, func() bool { return len(w.mailsTo("alice@example.org")) == 1 }, time.Minute, 100*time.Millisecond)
		require.Equal(t, 1, w.realm.Relay.Connections(), "Keycloak was asked once")
		require.Contains(t, w.worker.logs.String(), "reset sent, unconfirmed")
	})
}

// The realm's relay is down: the provider halts, with a hint naming SMTP,
// before more than a handful of users are tried; once the relay is back, a
// resume delivers every waiting user exactly once.
func TestKeycloakARealmWideMailFailureHaltsAndResumeDeliversEachOnce(t *testing.T) {
	t.Parallel()
	w := newKCWorld(t, kcSettings{})
	w.realm.SendMailTo(t, "127.0.0.1", realidp.ClosedPort(t))
	var emails, ids []string
	for i := 1; i <= 30; i++ {
		emails = append(emails, fmt.Sprintf("user%03d@example.org", i))
		ids = append(ids, w.enqueue(emails[i-1]))
	}
	st := waitHalted(t, w.rdb, time.Minute, "the provider halts; the worker's log:\n%s", w.worker.logs)
	require.Equal(t, "mail_failed", st.Reason)
	require.Contains(t, st.Hint, "SMTP")
	tried := w.metric("resetq_idp_requests_total", map[string]string{"operation": "reset"})
	require.Positive(t, tried)
	require.LessOrEqual(t, tried, float64(5+4), "at most the threshold plus the resets in flight (concurrency 4) were tried")
	for _, id := range ids {
		s, err := w.client.Status(context.Background(), id)
		require.NoError(t, err)
		require.Nil(t, s.Result, "no user ended while the provider is halted")
	}

	// The relay is back; the operator resumes.
	w.realm.SendMailTo(t, w.realm.Relay.Host(), w.realm.Relay.Port())
	code, out, errOut := w.cli("provider", "resume", "corp")
	require.Equal(t, exitOK, code, "%s%s", out, errOut)
	for _, id := range ids {
		require.Equal(t, tasks.Succeeded, w.wait(id, 3*time.Minute).Outcome)
	}
	for _, e := range emails {
		require.Len(t, w.mailsTo(e), 1, "%s got one mail", e)
	}
}

// In a campaign, the relay refuses one mailbox (550) and Keycloak will not
// address a non-ASCII one: both end skipped as recipient_refused, the
// campaign goes on, and nobody else is touched.
func TestKeycloakRefusedRecipientsAreSkippedWhileTheCampaignGoesOn(t *testing.T) {
	t.Parallel()
	w := newKCWorld(t, kcSettings{})
	const refused = "user005@example.org"
	w.realm.Relay.RefuseRecipient(func(a string) bool { return strings.EqualFold(a, refused) }, 550, "5.1.1 mailbox unavailable")
	var sb strings.Builder
	sb.WriteString("email\njürgen@example.org\n")
	for i := 1; i <= 150; i++ {
		fmt.Fprintf(&sb, "user%03d@example.org\n", i)
	}
	file := tempFile(t, "users.csv", sb.String())
	code, out, errOut := w.cli("campaign", "start", file, "--provider", "corp", "--rate", "20/s", "--name", "breach")
	require.Equal(t, exitOK, code, "%s%s", out, errOut)
	var c *producer.Campaign
	eventually(t, 5*time.Minute, func() bool {
		var err error
		c, err = w.client.GetCampaign(context.Background(), "breach")
		return err == nil && c.Done()
	}, "the campaign ends; the worker's log:\n%s", w.worker.logs)
	rows := map[string]producer.ReportRow{}
	require.NoError(t, w.client.CampaignReport(context.Background(), "breach", func(r producer.ReportRow) error {
		rows[r.User.Email] = r
		return nil
	}))
	require.Equal(t, "skipped", rows[refused].State)
	require.Equal(t, tasks.ReasonRecipientRefused, rows[refused].Reason)
	require.Equal(t, "skipped", rows["jürgen@example.org"].State)
	require.Equal(t, tasks.ReasonRecipientRefused, rows["jürgen@example.org"].Reason)
	require.Equal(t, 1, rows["jürgen@example.org"].Attempts, "an address Keycloak will not write to is not retried")
	for i := 1; i <= 150; i++ {
		e := fmt.Sprintf("user%03d@example.org", i)
		if e == refused {
			continue
		}
		require.Equal(t, "succeeded", rows[e].State, "%s: %+v", e, rows[e])
		require.Len(t, w.mailsTo(e), 1, e)
	}
	st, err := halt.New(w.rdb).Get(context.Background(), "corp")
	require.NoError(t, err)
	require.Nil(t, st, "refused mailboxes do not halt the provider")
}

// A realm whose email theme cannot render halts at once.
func TestKeycloakABrokenEmailThemeHalts(t *testing.T) {
	t.Parallel()
	w := newKCWorld(t, kcSettings{})
	w.realm.Update(t, map[string]any{"emailTheme": "resetq-broken"})
	id := w.enqueue("alice@example.org")
	st := waitHalted(t, w.rdb, time.Minute, "the provider halts; the worker's log:\n%s", w.worker.logs)
	require.Equal(t, "configuration", st.Reason)
	require.Contains(t, st.Hint, "email theme")
	s, err := w.client.Status(context.Background(), id)
	require.NoError(t, err)
	require.Nil(t, s.Result, "the task waits for the resume")
}

// `resetq provider check` against the real server says what is wrong.
func TestKeycloakProviderCheckSaysWhatIsWrong(t *testing.T) {
	t.Parallel()
	w := newKCWorld(t, kcSettings{noWorker: true})
	code, out, errOut := w.cli("provider", "check", "corp")
	require.Equal(t, exitOK, code, "%s%s", out, errOut)
	require.Contains(t, out, "manage-users")
	require.Contains(t, out, "view-events", "says lost answers cannot be confirmed, and why")

	ctx := context.Background()
	viewer, err := w.realm.KC.UserID(ctx, w.realm.Name, "service-account-resetq-viewer")
	require.NoError(t, err)
	require.NoError(t, w.realm.KC.UpdateUser(ctx, w.realm.Name, viewer, map[string]any{"enabled": false}))
	cfg := mustRead(t, w.path)
	for _, tt := range []struct{ client, secret, want string }{
		{"resetq", "not-the-secret", "auth.client_secret"},
		{"resetq-nosa", realidp.E2ENoSAClientSecret, "Service accounts roles"},
		{"resetq-viewer", realidp.E2EViewerClientSecret, "is disabled"},
	} {
		changed := strings.Replace(strings.Replace(cfg, "client_id: resetq\n", "client_id: "+tt.client+"\n", 1),
			realidp.E2EClientSecret, tt.secret, 1)
		require.NoError(t, os.WriteFile(w.path, []byte(changed), 0o600))
		code, out, errOut := w.cli("provider", "check", "corp")
		require.NotEqual(t, exitOK, code, "%s: %s%s", tt.client, out, errOut)
		require.Contains(t, out+errOut, tt.want, tt.client)
	}
}
