package console_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/console"
	"github.com/resetq/resetq/internal/listener"
)

// source is a Source with two providers, one halted, and two
// campaigns, one running.
type source struct {
	mu      sync.Mutex
	halted  bool
	resumes []string
	checks  []string
	last    map[string]*console.LastCheck // each provider's last check
	running string                        // the breach campaign's status
	steered []string
	hookOff bool
	started []string
}

func (s *source) Campaigns(context.Context) ([]console.Campaign, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []console.Campaign{
		{Name: "breach-2026-11", Provider: "corp", Status: s.running, Rows: 200000, Finished: 50000, Succeeded: 49000,
			Skipped: 990, Failed: 10, Queued: 200, Waiting: 149800, Rate: "20/s", ETA: "2h4m50s",
			Measured: &console.Rate{PerSecond: 16.4, Over: 50 * time.Second},
			Why: []console.Count{{Outcome: "skipped", Reason: "user_disabled", N: 700}, {Outcome: "skipped", Reason: "user_not_found", N: 290},
				{Outcome: "failed", Reason: "<b>retries_exhausted</b>", N: 10}}},
		{Name: "trial", Provider: "licensing", Status: "running", Rows: 100, Finished: 1, Waiting: 99, Rate: "5/s",
			Measured: &console.Rate{}},
		{Name: "pilot", Provider: "corp", Status: "completed", Rows: 10, Finished: 10, Succeeded: 10, Rate: "the provider's"},
	}, nil
}

func (s *source) Steer(_ context.Context, name, action string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name != "breach-2026-11" && name != "pilot" {
		return console.ErrUnknownCampaign
	}
	if name == "pilot" {
		return console.ErrNotNow
	}
	s.steered = append(s.steered, action)
	s.running = map[string]string{console.Pause: "paused", console.Resume: "running", console.Cancel: "cancelled"}[action]
	return nil
}

func (s *source) Webhooks(context.Context) (console.Webhooks, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return console.Webhooks{Backlog: 42, Endpoints: []console.Webhook{
		{Name: "app", URL: "https://hooks.example.com/resetq", Events: []string{"reset.failed", "provider.halted"},
			Disabled: s.hookOff, DisabledSince: time.Now().Add(-time.Hour), DisabledReason: "410 Gone",
			LastStatus: 410, LastAt: time.Now().Add(-time.Hour), Delivered: 1234, Failed: 3},
	}}, nil
}

func (s *source) EnableWebhook(_ context.Context, name string) (bool, error) {
	if name != "app" {
		return false, console.ErrUnknownWebhook
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	was := s.hookOff
	s.hookOff = false
	return was, nil
}

func (s *source) Outcomes(_ context.Context, limit int) (console.Outcomes, error) {
	return console.Outcomes{Since: "since this worker started", Counts: []console.Count{
		{Outcome: "skipped", Reason: "user_not_found", N: 12}, {Outcome: "succeeded", N: 4000}},
		Failures: []console.Failure{{TaskID: "r-0123456789abcdef0123456789abcdef", Provider: "corp",
			Error: "retries_exhausted: reset: HTTP 502", FailedAt: time.Now()}}}, nil
}

func (s *source) Task(_ context.Context, id string) (*console.Task, error) {
	if id != "r-0123456789abcdef0123456789abcdef" {
		return nil, console.ErrUnknownTask
	}
	return &console.Task{ID: id, Provider: "corp", State: "done", Outcome: "failed", Reason: "retries_exhausted",
		Error: "reset: HTTP 502", Attempts: 11, Finished: time.Now()}, nil
}

func (s *source) Scan(_ context.Context, src io.Reader, req console.NewCampaign) (console.ScanReport, error) {
	b, _ := io.ReadAll(src)
	if req.Provider == "" {
		return console.ScanReport{}, fmt.Errorf("%w: choose a provider", console.ErrBadInput)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")[1:]
	r := console.ScanReport{Rows: len(lines)}
	for i, l := range lines {
		if !strings.Contains(l, "@") {
			r.Invalid++
			r.Problems = append(r.Problems, console.Problem{Line: i + 2, Reason: "invalid_user", Detail: "not an email address"})
			continue
		}
		r.Valid++
	}
	return r, nil
}

func (s *source) Start(_ context.Context, src io.Reader, req console.NewCampaign) (string, error) {
	b, _ := io.ReadAll(src)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = append(s.started, req.Name+":"+req.Provider+":"+req.Rate+":"+req.Source+":"+strings.TrimSpace(string(b)))
	return req.Name, nil
}

func (s *source) Report(_ context.Context, name string, states []string, w io.Writer) error {
	if name != "breach-2026-11" {
		return console.ErrUnknownCampaign
	}
	_, err := io.WriteString(w, "row,state,reason\n1,failed,retries_exhausted\n# states: "+strings.Join(states, "+")+"\n")
	return err
}

func (s *source) Reasons(_ context.Context, name string) ([]console.Count, error) {
	if name != "breach-2026-11" {
		return nil, console.ErrUnknownCampaign
	}
	// In any order, as Source allows: the page sorts them.
	return []console.Count{{Outcome: "waiting", N: 149800}, {Outcome: "skipped", Reason: "user_not_found", N: 290},
		{Outcome: "failed", Reason: "<b>retries_exhausted</b>", N: 10}, {Outcome: "succeeded", N: 49000},
		{Outcome: "skipped", Reason: "user_disabled", N: 700}}, nil
}

func (s *source) Providers(context.Context) ([]console.Provider, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []console.Provider{
		{Name: "corp", Type: "keycloak", RateLimit: "20/s", Halted: s.halted, Reason: "credentials_rejected",
			Message: "invalid_client", Hint: "rotate the client secret in resetq's configuration", Since: time.Now().Add(-5 * time.Minute),
			Waiting: 1200, InFlight: 3, Retrying: 2, Current: &console.Rate{PerSecond: 4.84, Over: 45 * time.Second},
			LastCheck: s.last["corp"]},
		{Name: "licensing", Type: "keygen", RateLimit: "unlimited", Waiting: 0, Current: &console.Rate{}, LastCheck: s.last["licensing"]},
	}, nil
}

func (s *source) Resume(_ context.Context, name string) (console.Resumed, error) {
	if name != "corp" && name != "licensing" {
		return console.Resumed{}, console.ErrUnknownProvider
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resumes = append(s.resumes, name)
	was := s.halted && name == "corp"
	s.halted = false
	return console.Resumed{WasHalted: was, Requeued: 7}, nil
}

func (s *source) Check(_ context.Context, name, by string) (console.Checked, error) {
	if name != "corp" && name != "licensing" {
		return console.Checked{}, console.ErrUnknownProvider
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, name+" by "+by)
	c := console.Checked{OK: true, Lines: []string{"token: client_credentials grant from realm corp"},
		Warnings: []string{"events are off"}}
	if name == "corp" && s.halted {
		c = console.Checked{Problem: "credentials_rejected: token: HTTP 401 unauthorized_client",
			Hint: "check auth.client_secret", Lines: []string{}}
	}
	s.last[name] = &console.LastCheck{At: time.Now(), By: by, Checked: c}
	return c, nil
}

const (
	viewerToken   = "viewer-token-0123456789ab"
	operatorToken = "operator-token-0123456789"
)

type world struct {
	src  *source
	srv  *httptest.Server
	logs *bytes.Buffer
}

func setup(t *testing.T) *world {
	w := &world{src: &source{halted: true, running: "running", hookOff: true, last: map[string]*console.LastCheck{}}, logs: &bytes.Buffer{}}
	log := slog.New(slog.NewTextHandler(w.logs, nil))
	h := listener.Handler(listener.Options{Gatherer: prometheus.NewRegistry(),
		Console: console.New(console.Config{Source: w.src, Logger: log}),
		Auth:    listener.Auth{Token: operatorToken, Viewers: []listener.Credential{{Name: "noc", Token: viewerToken}}}})
	w.srv = httptest.NewServer(h)
	t.Cleanup(w.srv.Close)
	return w
}

// do makes a request as the holder of token; a POST comes from the
// console's own page unless site says otherwise.
func (w *world) do(t *testing.T, method, path, token, site string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, w.srv.URL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if site != "" {
		req.Header.Set("Sec-Fetch-Site", site)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b), res.Header
}

func TestAViewerSeesAHaltedProviderAndWhatToFix(t *testing.T) {
	t.Parallel()
	w := setup(t)
	status, body, h := w.do(t, "GET", "/console/", viewerToken, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "no-store", h.Get("Cache-Control"))
	for _, want := range []string{"corp", "halted", "credentials_rejected: invalid_client", "rotate the client secret",
		"1200", "licensing", "healthy", "unlimited", "noc · viewer", `<noscript><meta http-equiv="refresh" content="5"></noscript>`, `<meta name="resetq-refresh" content="5">`} {
		require.Contains(t, body, want)
	}
	require.NotContains(t, body, "<form", "a viewer gets no buttons")
	require.NotContains(t, body, "https://", "nothing from the internet")
	require.NotContains(t, body, "<script>", "no inline script: the page works without JavaScript")
	require.Contains(t, body, `<script src="/console/static/console.js" defer></script>`, "with it, it stays live without reloading")

	status, _, _ = w.do(t, "GET", "/console/", "", "")
	require.Equal(t, http.StatusUnauthorized, status)
	status, css, h := w.do(t, "GET", "/console/static/console.css", viewerToken, "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, h.Get("Content-Type"), "text/css")
	require.Contains(t, css, "section.provider")
	status, js, h := w.do(t, "GET", "/console/static/console.js", viewerToken, "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, h.Get("Content-Type"), "javascript")
	require.Contains(t, js, "DOMParser")
	require.NotContains(t, js, "://", "the script fetches nothing from elsewhere")
}

func TestTheOperatorResumesAHaltedProvider(t *testing.T) {
	t.Parallel()
	w := setup(t)
	_, body, _ := w.do(t, "GET", "/console/", operatorToken, "")
	require.Contains(t, body, `action="/console/providers/corp/resume"`)
	require.NotContains(t, body, `action="/console/providers/licensing/resume"`, "only a halted provider has Resume")
	require.Contains(t, body, `action="/console/providers/licensing/check"`)

	status, _, h := w.do(t, "POST", "/console/providers/corp/resume", operatorToken, "same-origin")
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, []string{"corp"}, w.src.resumes)
	require.Contains(t, w.logs.String(), "by=operator provider=corp was_halted=true requeued=7", "logged with who did it")
	_, body, _ = w.do(t, "GET", h.Get("Location"), operatorToken, "")
	require.Contains(t, body, "Resumed corp: 7 task(s) put back in its queue.")
	require.NotContains(t, body, "state halted")
}

func TestAViewerCannotAct(t *testing.T) {
	t.Parallel()
	w := setup(t)
	for _, action := range []string{"resume", "check"} {
		status, body, _ := w.do(t, "POST", "/console/providers/corp/"+action, viewerToken, "same-origin")
		require.Equal(t, http.StatusForbidden, status, action)
		require.Contains(t, body, "Only the operator may do this")
	}
	require.Empty(t, w.src.resumes)
	require.Empty(t, w.src.checks)
}

func TestAnotherSiteCannotActThroughTheOperatorsBrowser(t *testing.T) {
	t.Parallel()
	w := setup(t)
	status, _, _ := w.do(t, "POST", "/console/providers/corp/resume", operatorToken, "cross-site")
	require.Equal(t, http.StatusForbidden, status)
	require.Empty(t, w.src.resumes)
}

func TestCheckNow(t *testing.T) {
	t.Parallel()
	w := setup(t)
	status, body, _ := w.do(t, "POST", "/console/providers/licensing/check", operatorToken, "same-origin")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "licensing is ready.")
	require.Contains(t, body, "token: client_credentials grant from realm corp")
	require.Contains(t, body, "events are off")
	require.Contains(t, w.logs.String(), "by=operator provider=licensing ok=true")

	status, _, _ = w.do(t, "POST", "/console/providers/nobody/check", operatorToken, "same-origin")
	require.Equal(t, http.StatusNotFound, status)
}

// Each provider shows its last check (when, by whom, what it found, its
// lines folded away) and how fast its tasks go now next to its limit.
func TestTheProvidersPageShowsTheLastCheckAndTheRate(t *testing.T) {
	t.Parallel()
	w := setup(t)
	w.src.last["corp"] = &console.LastCheck{At: time.Now().Add(-3 * time.Hour), By: "cli:alice@laptop",
		Checked: console.Checked{Problem: "credentials_rejected: token: HTTP 401 unauthorized_client", Hint: "check auth.client_secret",
			Lines: []string{`realm answered "<html>Bad Gateway</html>"`}}}

	status, body, _ := w.do(t, "GET", "/console/", viewerToken, "")
	require.Equal(t, http.StatusOK, status)
	for _, want := range []string{
		`3h0m ago</time>`,
		`by cli:alice@laptop: <strong class="problem">credentials_rejected: token: HTTP 401 unauthorized_client</strong>`,
		`<p class="hint">check auth.client_secret</p>`,
		`<details id="check-corp"><summary>1 line(s)</summary>`,
		`realm answered &#34;&lt;html&gt;Bad Gateway&lt;/html&gt;&#34;`,
		`<p class="last-check muted">Not checked yet.</p>`, // licensing
		`<span class="current" title="measured over the last 45s">4.8/s now</span> · limit 20/s`,
		`<span class="current">measuring</span> · unlimited`,
	} {
		require.Contains(t, body, want)
	}
	require.NotContains(t, body, "<html>Bad Gateway", "a check's lines are escaped")

	status, _, _ = w.do(t, "POST", "/console/providers/licensing/check", operatorToken, "same-origin")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []string{"licensing by operator"}, w.src.checks, "the check is kept as run by who ran it")
	_, body, _ = w.do(t, "GET", "/console/", operatorToken, "")
	require.Regexp(t, `Last check: <time datetime="[0-9T:-]+Z">\d+s ago</time> \([0-9: -]+ UTC\), by operator: <strong class="ok">OK</strong>`, body)
	require.Contains(t, body, `<details id="check-licensing"><summary>1 line(s), 1 warning(s)</summary>`)
	require.Contains(t, body, `<ul class="warnings"><li>events are off</li></ul>`)
	require.NotContains(t, body, "Not checked yet")

	status, _, _ = w.do(t, "POST", "/console/providers/corp/check", operatorToken, "same-origin")
	require.Equal(t, http.StatusOK, status)
	_, body, _ = w.do(t, "GET", "/console/", viewerToken, "")
	require.Contains(t, body, `by operator: <strong class="problem">credentials_rejected: token: HTTP 401 unauthorized_client</strong>`)
	require.NotContains(t, body, "cli:alice@laptop", "the last check replaces the one before")
	require.NotContains(t, body, `id="check-corp"`, "a check without lines has nothing to unfold")
}

// say something else.
func TestNoticesCannotBeInjected(t *testing.T) {
	t.Parallel()
	w := setup(t)
	_, body, _ := w.do(t, "GET", "/console/?resumed=%3Cscript%3Ealert(1)%3C/script%3E&requeued=3", operatorToken, "")
	require.NotContains(t, body, "alert(1)")
	require.NotContains(t, body, "Resumed")
	_, body, _ = w.do(t, "GET", "/console/?resumed=licensing&was=no", operatorToken, "")
	require.True(t, strings.Contains(body, "licensing was not halted: nothing to resume."))
}

func TestCampaignsShowTheirProgressAndTheOperatorSteersThem(t *testing.T) {
	t.Parallel()
	w := setup(t)
	status, body, _ := w.do(t, "GET", "/console/campaigns", viewerToken, "")
	require.Equal(t, http.StatusOK, status)
	for _, want := range []string{"breach-2026-11", `<progress max="200000" value="50000">`, "25 %", "20/s", "about 2h4m50s left",
		"pilot", "completed",
		`Why: <span class="skipped">skipped user_disabled 700</span> · <span class="skipped">skipped user_not_found 290</span> · ` +
			`<span class="failed">failed &lt;b&gt;retries_exhausted&lt;/b&gt; 10</span>`} {
		require.Contains(t, body, want)
	}
	require.Equal(t, 1, strings.Count(body, "Why:"), "only a campaign with reasons says why")
	require.NotContains(t, body, "<form", "a viewer gets no buttons")
	require.NotContains(t, body, "report.csv", "nor the reports, which name every user")

	_, body, _ = w.do(t, "GET", "/console/campaigns", operatorToken, "")
	require.Contains(t, body, `/console/campaigns/breach-2026-11/report.csv?state=failed`)
	require.Contains(t, body, `action="/console/campaigns/breach-2026-11/pause"`)
	require.Contains(t, body, `action="/console/campaigns/breach-2026-11/cancel"`)
	require.NotContains(t, body, `action="/console/campaigns/breach-2026-11/resume"`, "a running campaign has no Resume")
	require.NotContains(t, body, `action="/console/campaigns/pilot/`, "a completed one has no buttons")

	status, _, h := w.do(t, "POST", "/console/campaigns/breach-2026-11/pause", operatorToken, "same-origin")
	require.Equal(t, http.StatusSeeOther, status)
	_, body, _ = w.do(t, "GET", h.Get("Location"), operatorToken, "")
	require.Contains(t, body, "Paused breach-2026-11.")
	require.Contains(t, body, `action="/console/campaigns/breach-2026-11/resume"`)
	require.Contains(t, w.logs.String(), `msg="console: campaign pause" by=operator campaign=breach-2026-11`)

	status, _, _ = w.do(t, "POST", "/console/campaigns/breach-2026-11/resume", viewerToken, "same-origin")
	require.Equal(t, http.StatusForbidden, status, "a viewer cannot steer")
	status, _, _ = w.do(t, "POST", "/console/campaigns/breach-2026-11/cancel", operatorToken, "cross-site")
	require.Equal(t, http.StatusForbidden, status, "nor another site")
	require.Equal(t, []string{"pause"}, w.src.steered)

	status, _, _ = w.do(t, "POST", "/console/campaigns/pilot/cancel", operatorToken, "same-origin")
	require.Equal(t, http.StatusConflict, status)
	status, _, _ = w.do(t, "POST", "/console/campaigns/nobody/cancel", operatorToken, "same-origin")
	require.Equal(t, http.StatusNotFound, status)
	status, _, _ = w.do(t, "POST", "/console/campaigns/breach-2026-11/delete", operatorToken, "same-origin")
	require.Equal(t, http.StatusNotFound, status)
}

// A running campaign shows its measured pace next to the configured one;
// the source estimates the time left from it.
func TestCampaignsShowTheirMeasuredPace(t *testing.T) {
	t.Parallel()
	w := setup(t)
	_, body, _ := w.do(t, "GET", "/console/campaigns", viewerToken, "")
	for _, want := range []string{
		`<span class="current" title="measured over the last 50s">16/s now</span> ·`,
		`<span class="pace">pace 20/s</span> · about 2h4m50s left`,
		`<span class="current">measuring</span> ·`, // trial, just started
		`<span class="pace">pace 5/s</span></p>`,
	} {
		require.Contains(t, body, want)
	}
	require.Equal(t, 2, strings.Count(body, `class="current"`), "a completed campaign has no pace now")
}

func TestTheReportDownloads(t *testing.T) {
	t.Parallel()
	w := setup(t)
	status, _, _ := w.do(t, "GET", "/console/campaigns/breach-2026-11/report.csv", viewerToken, "")
	require.Equal(t, http.StatusForbidden, status, "a report names every user: the operator's")
	status, body, h := w.do(t, "GET", "/console/campaigns/breach-2026-11/report.csv?state=failed&state=skipped", operatorToken, "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, h.Get("Content-Type"), "text/csv")
	require.Contains(t, h.Get("Content-Disposition"), `filename="breach-2026-11-report.csv"`)
	require.Contains(t, body, "# states: failed+skipped")
	require.Contains(t, w.logs.String(), "console: campaign report downloaded\" by=operator campaign=breach-2026-11 states=failed,skipped")
	status, _, _ = w.do(t, "GET", "/console/campaigns/breach-2026-11/report.csv?state=everything", operatorToken, "")
	require.Equal(t, http.StatusBadRequest, status)
	status, _, _ = w.do(t, "GET", "/console/campaigns/nobody/report.csv", operatorToken, "")
	require.Equal(t, http.StatusNotFound, status)
}

func TestWebhooksShowTheirStateAndTheOperatorReenablesOne(t *testing.T) {
	t.Parallel()
	w := setup(t)
	status, body, _ := w.do(t, "GET", "/console/webhooks", viewerToken, "")
	require.Equal(t, http.StatusOK, status)
	for _, want := range []string{"app", "https://hooks.example.com/resetq", "disabled", "410 Gone", "1234", "42",
		"reset.failed, provider.halted"} {
		require.Contains(t, body, want)
	}
	require.NotContains(t, body, "<form")
	status, _, _ = w.do(t, "POST", "/console/webhooks/app/enable", viewerToken, "same-origin")
	require.Equal(t, http.StatusForbidden, status)

	_, body, _ = w.do(t, "GET", "/console/webhooks", operatorToken, "")
	require.Contains(t, body, `action="/console/webhooks/app/enable"`)
	status, _, h := w.do(t, "POST", "/console/webhooks/app/enable", operatorToken, "same-origin")
	require.Equal(t, http.StatusSeeOther, status)
	_, body, _ = w.do(t, "GET", h.Get("Location"), operatorToken, "")
	require.Contains(t, body, "Re-enabled app: new events are delivered to it again.")
	require.NotContains(t, body, "state halted")
	require.Contains(t, w.logs.String(), "by=operator endpoint=app was_disabled=true")
	status, _, _ = w.do(t, "POST", "/console/webhooks/nobody/enable", operatorToken, "same-origin")
	require.Equal(t, http.StatusNotFound, status)
}

func TestOutcomesCountAndListFailuresAndLookUpATask(t *testing.T) {
	t.Parallel()
	w := setup(t)
	status, body, _ := w.do(t, "GET", "/console/outcomes", viewerToken, "")
	require.Equal(t, http.StatusOK, status)
	for _, want := range []string{"since this worker started", "<td>skipped</td><td>user_not_found</td><td>12</td>",
		"<td>succeeded</td><td></td><td>4000</td>", "r-0123456789abcdef0123456789abcdef", "retries_exhausted: reset: HTTP 502",
		`<span class="muted">hidden</span>`} {
		require.Contains(t, body, want)
	}
	_, body, _ = w.do(t, "GET", "/console/outcomes?task=r-0123456789abcdef0123456789abcdef", viewerToken, "")
	require.Contains(t, body, `<dd class="outcome">failed (retries_exhausted)</dd>`)
	require.Contains(t, body, "reset: HTTP 502")
	require.NotContains(t, body, `http-equiv="refresh"`, "a looked-up task does not reload under the reader")
	_, body, _ = w.do(t, "GET", "/console/outcomes?task=%3Cb%3Er-nope", viewerToken, "")
	require.Contains(t, body, "No task has that ID")
	require.NotContains(t, body, "<b>r-nope", "what was asked is escaped")
}

// upload posts a campaign's file from the console's own form.
func (w *world) upload(t *testing.T, token, file, content string, fields map[string]string) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		require.NoError(t, mw.WriteField(k, v))
	}
	fw, err := mw.CreateFormFile("file", file)
	require.NoError(t, err)
	_, err = io.WriteString(fw, content)
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	req, err := http.NewRequest("POST", w.srv.URL+"/console/campaigns/new", &body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

var tokenRE = regexp.MustCompile(`name="upload" value="([A-Z0-9]+)"`)

func TestACampaignStartsFromAnUploadAfterItsCheck(t *testing.T) {
	t.Parallel()
	w := setup(t)
	status, body, _ := w.do(t, "GET", "/console/campaigns/new", operatorToken, "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `enctype="multipart/form-data"`)
	require.Contains(t, body, "<option>corp</option>")
	status, _, _ = w.do(t, "GET", "/console/campaigns/new", viewerToken, "")
	require.Equal(t, http.StatusForbidden, status, "a viewer starts nothing")

	status, body = w.upload(t, operatorToken, "users.csv", "email\nalice@example.com\nbob@example.com\n",
		map[string]string{"provider": "corp", "name": "spring", "rate": "5/s"})
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, `<dd class="valid">2</dd>`)
	require.Contains(t, body, "Reset 2 user(s)")
	require.Empty(t, w.src.started, "the check starts nothing")
	tok := tokenRE.FindStringSubmatch(body)
	require.NotNil(t, tok, body)

	req, err := http.NewRequest("POST", w.srv.URL+"/console/campaigns/start", strings.NewReader("upload="+tok[1]))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.Equal(t, []string{"spring:corp:5/s:users.csv:email\nalice@example.com\nbob@example.com"}, w.src.started,
		"the very file checked is started")
	require.Contains(t, w.logs.String(), "console: campaign started\" by=operator campaign=spring")

	req, _ = http.NewRequest("POST", w.srv.URL+"/console/campaigns/start", strings.NewReader("upload="+tok[1]))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err = c.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusGone, res.StatusCode, "a file starts once")
	require.Len(t, w.src.started, 1)
}

func TestAnUploadWithInvalidRowsStartsNothing(t *testing.T) {
	t.Parallel()
	w := setup(t)
	status, body := w.upload(t, operatorToken, "users.csv", "email\nalice@example.com\nnot-an-address\n", map[string]string{"provider": "corp"})
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `<dd class="invalid">1</dd>`)
	require.Contains(t, body, "<td>3</td><td>invalid_user</td><td>not an email address</td>")
	require.NotContains(t, body, "Start the campaign")
	status, body = w.upload(t, operatorToken, "users.csv", "email\nalice@example.com\n", map[string]string{})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "choose a provider")
	status, _ = w.upload(t, viewerToken, "users.csv", "email\nalice@example.com\n", map[string]string{"provider": "corp"})
	require.Equal(t, http.StatusForbidden, status)
	require.Empty(t, w.src.started)
}

// A campaign's rows by outcome and reason: for viewers too (counts name no
// user), listed by outcome then reason, and a 404 for a name no campaign
// has.
func TestACampaignsRowsByOutcomeAndReason(t *testing.T) {
	t.Parallel()
	w := setup(t)
	status, body, _ := w.do(t, http.MethodGet, "/console/campaigns/breach-2026-11/outcomes", viewerToken, "")
	require.Equal(t, http.StatusOK, status)
	at := -1
	for _, want := range []string{`<td>succeeded</td><td></td><td>49000</td>`, `<td>skipped</td><td>user_disabled</td><td>700</td>`,
		`<td>skipped</td><td>user_not_found</td><td>290</td>`, `&lt;b&gt;retries_exhausted&lt;/b&gt;`, `<td>waiting</td><td></td><td>149800</td>`} {
		i := strings.Index(body, want)
		require.Greater(t, i, at, "%s, after the row before it", want)
		at = i
	}
	require.Contains(t, body, `<meta name="resetq-refresh" content="5">`, "counted as rows finish, it refreshes as the other pages do")
	status, _, _ = w.do(t, http.MethodGet, "/console/campaigns/nobody/outcomes", viewerToken, "")
	require.Equal(t, http.StatusNotFound, status)
	_, body, _ = w.do(t, http.MethodGet, "/console/campaigns", viewerToken, "")
	require.Contains(t, body, `<a href="/console/campaigns/breach-2026-11/outcomes"`, "the list links to it")
}
