package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/listener"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// consoleDo is a browser-less client of a worker's console, signed in as
// user.
func consoleDo(t *testing.T, addr, user, pass, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	require.NoError(t, err)
	req.SetBasicAuth(user, pass)
	if method == http.MethodPost {
		req.Header.Set("Sec-Fetch-Site", "same-origin") // a form of the console's own page
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	if res.StatusCode == http.StatusSeeOther {
		u, err := url.Parse(res.Header.Get("Location"))
		require.NoError(t, err)
		return consoleDo(t, addr, user, pass, http.MethodGet, u.RequestURI())
	}
	return res.StatusCode, string(b)
}

// An operator recovers a halted provider from the console alone: a viewer
// sees the halt and what to fix but cannot act; the operator checks the
// provider once it is fixed, resumes it, and the waiting resets go out.
func TestTheConsoleRecoversAHaltedProvider(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{users: 12, concurrency: 4, noWorker: true})
	b.cfg.HTTP.Auth = config.HTTPAuth{Username: "ops", Password: "correct-horse"}
	b.cfg.HTTP.Viewers = []config.HTTPViewer{{Name: "noc", HTTPAuth: config.HTTPAuth{Username: "noc", Password: "look-only"}}}
	w, err := startWorkerWithin(context.Background(), b.cfg, b.rdb, newLogger(b.cfg.Log, b.logs), listener.Limits{})
	require.NoError(t, err)
	t.Cleanup(w.stop)
	addr := w.listener.Addr

	b.kc.SetSMTP(realm, keycloaktest.SMTPOff)
	var ids []string
	for i, e := range b.sample.Emails[:5] {
		ids = append(ids, b.enqueue(tasks.User{Email: e}, fmt.Sprint(i)))
	}
	waitHalted(t, b.rdb, 10*time.Second, "halted")

	status, page := consoleDo(t, addr, "noc", "look-only", http.MethodGet, "/console/")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "state halted")
	require.Contains(t, page, "noc · viewer")
	require.Contains(t, page, "What to fix")
	require.NotContains(t, page, "<form")
	status, _ = consoleDo(t, addr, "noc", "look-only", http.MethodPost, "/console/providers/corp/resume")
	require.Equal(t, http.StatusForbidden, status, "a viewer cannot resume")

	b.kc.SetSMTP(realm, keycloaktest.SMTPOn) // the operator fixes the relay
	status, page = consoleDo(t, addr, "ops", "correct-horse", http.MethodPost, "/console/providers/corp/check")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "corp is ready.")
	status, page = consoleDo(t, addr, "ops", "correct-horse", http.MethodPost, "/console/providers/corp/resume")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "Resumed corp")
	got := b.waitAll(ids, 30*time.Second)
	require.Equal(t, 5, got[tasks.Succeeded], "%v", got)
	require.Contains(t, b.logs.String(), `"msg":"console: provider resumed","by":"ops"`, "the resume is logged with who did it")
	_, page = consoleDo(t, addr, "ops", "correct-horse", http.MethodGet, "/console/")
	require.False(t, strings.Contains(page, "state halted"), "healthy again")
}

// The operator watches a campaign, pauses it, resumes it and cancels it
// from the console, and downloads its report.
func TestTheConsoleSteersACampaign(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{users: 40, concurrency: 2, noWorker: true})
	b.cfg.HTTP.Auth = config.HTTPAuth{Username: "ops", Password: "correct-horse"}
	w, err := startWorkerWithin(context.Background(), b.cfg, b.rdb, newLogger(b.cfg.Log, b.logs), listener.Limits{})
	require.NoError(t, err)
	t.Cleanup(w.stop)
	addr := w.listener.Addr
	csv := "email\n" + strings.Join(b.sample.Emails[:30], "\n") + "\n"
	_, err = w.client.StartCampaign(context.Background(), strings.NewReader(csv),
		producer.CampaignRequest{Name: "slow", Provider: "corp", RateN: 2, RatePer: time.Second})
	require.NoError(t, err)

	eventually(t, 10*time.Second, func() bool {
		_, page := consoleDo(t, addr, "ops", "correct-horse", http.MethodGet, "/console/campaigns")
		return strings.Contains(page, `<span class="status running">running</span>`) && !strings.Contains(page, `value="0">`)
	}, "the campaign runs, and its bar moves")
	status, page := consoleDo(t, addr, "ops", "correct-horse", http.MethodPost, "/console/campaigns/slow/pause")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "Paused slow.")
	require.Contains(t, page, `action="/console/campaigns/slow/resume"`)
	status, page = consoleDo(t, addr, "ops", "correct-horse", http.MethodPost, "/console/campaigns/slow/resume")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "Resumed slow.")
	status, page = consoleDo(t, addr, "ops", "correct-horse", http.MethodPost, "/console/campaigns/slow/cancel")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "Cancelled slow.")
	eventually(t, 10*time.Second, func() bool {
		c, err := w.client.GetCampaign(context.Background(), "slow")
		require.NoError(t, err)
		return c.Done()
	}, "the cancelled campaign ends")

	status, report := consoleDo(t, addr, "ops", "correct-horse", http.MethodGet, "/console/campaigns/slow/report.csv?state=cancelled")
	require.Equal(t, http.StatusOK, status)
	lines := strings.Split(strings.TrimSpace(report), "\n")
	require.Equal(t, "line,user_kind,user,state,reason,attempts,finished_at", lines[0])
	require.Greater(t, len(lines), 1, "some rows were cancelled")
	for _, l := range lines[1:] {
		require.Contains(t, l, ",cancelled,")
	}
}

// `resetq api` serves the console too, behind the same credentials.
func TestTheAPIServesTheConsole(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{noWorker: true, top: "api:\n  listen: 127.0.0.1:0\n  tokens:\n" +
		"    - {name: ops, token: " + listenOps + ", scopes: [resets, outcomes, campaigns]}\n"})
	b.cfg.HTTP.Auth = config.HTTPAuth{Username: "ops", Password: "correct-horse"}
	a, err := startAPI(b.cfg, b.rdb, newLogger(b.cfg.Log, b.logs), listener.Limits{})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	status, page := consoleDo(t, a.Addr, "ops", "correct-horse", http.MethodGet, "/console/")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, `id="provider-corp"`)
	status, _ = consoleDo(t, a.Addr, "ops", "wrong", http.MethodGet, "/console/")
	require.Equal(t, http.StatusUnauthorized, status)
}

// An endpoint that answered 410 Gone is disabled; the console shows it and
// the operator re-enables it.
func TestTheConsoleReenablesAGoneWebhook(t *testing.T) {
	t.Parallel()
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) }))
	t.Cleanup(gone.Close)
	b := setup(t, settings{noWorker: true, webhooks: fmt.Sprintf(`webhooks:
  retry_schedule: [200ms]
  endpoints:
    - name: app
      url: %s/hooks
      secret: %s
      allow_private_networks: true
`, gone.URL, hookSecret)})
	b.cfg.HTTP.Auth = config.HTTPAuth{Username: "ops", Password: "correct-horse"}
	w, err := startWorkerWithin(context.Background(), b.cfg, b.rdb, newLogger(b.cfg.Log, b.logs), listener.Limits{})
	require.NoError(t, err)
	t.Cleanup(w.stop)
	b.wait(b.enqueue(tasks.User{Email: b.sample.Emails[0]}, "gone-1"), 10*time.Second)
	eventually(t, 10*time.Second, func() bool {
		_, page := consoleDo(t, w.listener.Addr, "ops", "correct-horse", http.MethodGet, "/console/webhooks")
		return strings.Contains(page, `<span class="state halted">disabled</span>`)
	}, "the endpoint that answered 410 is shown disabled")
	status, page := consoleDo(t, w.listener.Addr, "ops", "correct-horse", http.MethodPost, "/console/webhooks/app/enable")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "Re-enabled app")
	require.Contains(t, page, `<span class="state healthy">enabled</span>`)
}

// The outcomes page counts a worker's resets by outcome and reason, lists
// the one that failed with its error (and no user: log.include_user is
// off), and finds a task by its ID.
func TestTheConsoleShowsOutcomes(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{users: 6, noWorker: true, lastTry: true, quick: true})
	b.cfg.HTTP.Auth = config.HTTPAuth{Username: "ops", Password: "correct-horse"}
	w, err := startWorkerWithin(context.Background(), b.cfg, b.rdb, newLogger(b.cfg.Log, b.logs), listener.Limits{})
	require.NoError(t, err)
	t.Cleanup(w.stop)
	ok := b.enqueue(tasks.User{Email: b.sample.Emails[0]}, "ok")
	b.wait(ok, 10*time.Second)
	b.wait(b.enqueue(tasks.User{Email: "nobody@example.com"}, "nobody"), 10*time.Second)
	b.kc.Inject(keycloaktest.Fault{Endpoint: keycloaktest.EndpointExecuteActions, Status: http.StatusBadGateway, Body: `<html>Bad Gateway</html>`})
	failed := b.enqueue(tasks.User{Email: b.sample.Emails[1]}, "fails")
	r := b.wait(failed, 20*time.Second)
	require.Equal(t, tasks.Failed, r.Outcome)

	eventually(t, 10*time.Second, func() bool {
		_, page := consoleDo(t, w.listener.Addr, "ops", "correct-horse", http.MethodGet, "/console/outcomes")
		return strings.Contains(page, failed)
	}, "the failure is listed")
	_, page := consoleDo(t, w.listener.Addr, "ops", "correct-horse", http.MethodGet, "/console/outcomes")
	require.Contains(t, page, "<td>succeeded</td><td></td><td>1</td>")
	require.Contains(t, page, "<td>skipped</td><td>user_not_found</td><td>1</td>")
	require.Contains(t, page, "<td>failed</td><td>retries_exhausted</td><td>1</td>")
	require.Contains(t, page, "HTTP 502")
	require.NotContains(t, page, b.sample.Emails[1], "no address: log.include_user is off")
	require.NotContains(t, page, ok, "a success is no failure")

	_, page = consoleDo(t, w.listener.Addr, "ops", "correct-horse", http.MethodGet, "/console/outcomes?task="+ok)
	require.Contains(t, page, `<dd class="outcome">succeeded</dd>`)
}

// The operator starts a campaign from a file through the console: the
// check comes first, then the start, and the campaign runs to its end.
func TestTheConsoleStartsACampaignFromAFile(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{users: 12, noWorker: true})
	b.cfg.HTTP.Auth = config.HTTPAuth{Username: "ops", Password: "correct-horse"}
	w, err := startWorkerWithin(context.Background(), b.cfg, b.rdb, newLogger(b.cfg.Log, b.logs), listener.Limits{})
	require.NoError(t, err)
	t.Cleanup(w.stop)
	post := func(path, contentType string, body io.Reader) (int, string) {
		req, err := http.NewRequest(http.MethodPost, "http://"+w.listener.Addr+path, body)
		require.NoError(t, err)
		req.SetBasicAuth("ops", "correct-horse")
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		res, err := http.DefaultClient.Do(req) // follows the redirect to the campaigns page
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, string(b)
	}
	var file bytes.Buffer
	mw := multipart.NewWriter(&file)
	require.NoError(t, mw.WriteField("provider", "corp"))
	require.NoError(t, mw.WriteField("name", "from-console"))
	fw, err := mw.CreateFormFile("file", "users.csv")
	require.NoError(t, err)
	_, _ = io.WriteString(fw, "email\n"+strings.Join(b.sample.Emails[:5], "\n")+"\n"+b.sample.Emails[0]+"\n")
	require.NoError(t, mw.Close())
	status, page := post("/console/campaigns/new", mw.FormDataContentType(), &file)
	require.Equal(t, http.StatusOK, status, page)
	require.Contains(t, page, `<dd class="valid">6</dd>`)
	require.Contains(t, page, `<dd class="duplicates">1</dd>`)
	tok := regexp.MustCompile(`name="upload" value="([A-Z0-9]+)"`).FindStringSubmatch(page)
	require.NotNil(t, tok)
	_, err = w.client.GetCampaign(context.Background(), "from-console")
	require.ErrorIs(t, err, producer.ErrCampaignNotFound, "the check stores nothing")

	status, page = post("/console/campaigns/start", "application/x-www-form-urlencoded", strings.NewReader("upload="+tok[1]))
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "Started from-console.")
	eventually(t, 20*time.Second, func() bool {
		c, err := w.client.GetCampaign(context.Background(), "from-console")
		require.NoError(t, err)
		return c.Done()
	}, "the campaign started from the console ends")
	c, err := w.client.GetCampaign(context.Background(), "from-console")
	require.NoError(t, err)
	require.Equal(t, 5, c.Succeeded)
	require.Equal(t, 1, c.Skipped, "the duplicate row")
}
