package main

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/audit"
	"github.com/resetq/resetq/internal/checks"
	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/console"
	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/internal/listener"
	"github.com/resetq/resetq/internal/testclock"
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
	// And kept in the audit trail, in the operator's name.
	var acts []string
	require.NoError(t, auditTrail(b.cfg, b.rdb).Query(context.Background(), audit.Filter{Actor: "console:"},
		func(r audit.Record) error {
			acts = append(acts, r.Actor+" "+r.Address+" "+r.Action+" "+r.Target+" "+r.Result)
			return nil
		}))
	require.Equal(t, []string{"console:ops 127.0.0.1 provider.check provider:corp ok",
		"console:ops 127.0.0.1 provider.resume provider:corp ok"}, acts, "the viewer's refused resume changed nothing")
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
	require.Equal(t, "line,user_kind,user,state,reason,attempts,finished_at,requester", lines[0])
	require.Greater(t, len(lines), 1, "some rows were cancelled")
	for _, l := range lines[1:] {
		require.Contains(t, l, ",cancelled,")
	}
}

// `resetq api` serves the console too, behind the same credentials.
func TestTheAPIServesTheConsole(t *testing.T) {
	t.Parallel()
	_, a := consoleOnAPI(t, "resets, outcomes, campaigns")
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
	// Who asked: the test's producer client, an application named after
	// its program.
	require.Contains(t, page, `<dd class="requester">app:`+filepath.Base(os.Args[0])+`</dd>`)
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

	// Who started it, everywhere it shows: the campaign, its page, each
	// row's reset and its report.
	ops := tasks.Requester{Actor: "console:ops", Address: "127.0.0.1"}
	require.Equal(t, ops, c.StartedBy)
	_, page = consoleDo(t, w.listener.Addr, "ops", "correct-horse", http.MethodGet, "/console/campaigns")
	require.Contains(t, page, "Started by console:ops (127.0.0.1)")
	require.Contains(t, page, `Why: <span class="skipped">skipped duplicate_row 1</span>`, "its reasons, from the campaign's counters")
	_, page = consoleDo(t, w.listener.Addr, "ops", "correct-horse", http.MethodGet, "/console/campaigns/from-console/outcomes")
	require.Contains(t, page, "<td>succeeded</td><td></td><td>5</td>")
	require.Contains(t, page, "<td>skipped</td><td>duplicate_row</td><td>1</td>", "its rows by outcome and reason")
	_, report := consoleDo(t, w.listener.Addr, "ops", "correct-horse", http.MethodGet, "/console/campaigns/from-console/report.csv")
	lines := strings.Split(strings.TrimSpace(report), "\n")
	require.Len(t, lines, 7)
	for _, l := range lines[1:] {
		require.True(t, strings.HasSuffix(l, ",console:ops (127.0.0.1)"), l)
	}
}

// The providers page shows each provider's last check, whoever ran it: the
// operator's Check now in the console, or `resetq provider check` on a
// machine of its own; what is kept holds no secret.
func TestTheProvidersPageShowsTheLastCheckFromTheConsoleAndTheCommandLine(t *testing.T) {
	t.Parallel()
	b, a := consoleOnAPI(t, "resets")
	get := func() string {
		t.Helper()
		status, page := consoleDo(t, a.Addr, "ops", "correct-horse", http.MethodGet, "/console/")
		require.Equal(t, http.StatusOK, status)
		return page
	}
	require.Contains(t, get(), "Not checked yet")

	status, page := consoleDo(t, a.Addr, "ops", "correct-horse", http.MethodPost, "/console/providers/corp/check")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "corp is ready.")
	page = get()
	require.Regexp(t, `Last check: <time datetime="[^"]+">\d+s ago</time> \([^)]+ UTC\), by ops: <strong class="ok">OK</strong>`, page)
	require.Contains(t, page, `<details id="check-corp">`)
	require.Contains(t, page, "token: client_credentials grant for client &#34;resetq&#34; from realm &#34;corp&#34;")
	require.NotContains(t, page, "Not checked yet")
	kept, err := b.rdb.Get(context.Background(), checks.KeyPrefix+"corp").Result()
	require.NoError(t, err)
	require.Contains(t, kept, `"by":"ops"`)
	require.NotContains(t, kept, testSecret)
	require.NotEmpty(t, b.kc.IssuedTokens())
	for _, tok := range b.kc.IssuedTokens() {
		require.NotContains(t, kept, tok, "no token is kept")
	}
	ttl, err := b.rdb.TTL(context.Background(), checks.KeyPrefix+"corp").Result()
	require.NoError(t, err)
	require.Greater(t, ttl, 29*24*time.Hour, "kept for a month")

	// Someone runs the command line with a configuration whose secret is
	// wrong: its failure is the last check now.
	const wrong = "Wrong-secret-5e0c2a9f71"
	b.writeConfig(strings.Replace(mustRead(t, b.path), testSecret, wrong, 1))
	code, out, _ := b.cli("provider", "check", "corp")
	require.Equal(t, exitFailure, code, out)
	kept, err = b.rdb.Get(context.Background(), checks.KeyPrefix+"corp").Result()
	require.NoError(t, err)
	require.NotContains(t, kept, wrong)
	page = get()
	require.NotContains(t, page, wrong)
	require.Contains(t, page, "by "+template.HTMLEscapeString(cliWho())+`: <strong class="problem">credentials_rejected: token: HTTP 401 unauthorized_client`)
	require.Contains(t, page, `<p class="hint">`)
	require.Contains(t, page, "auth.client_secret")
	require.NotContains(t, page, "by ops:", "it replaced the console's")
	require.True(t, strings.HasPrefix(cliWho(), "cli:") && strings.Contains(cliWho(), "@"), cliWho())
}

// A provider's rate is how fast Asynq's processed count grows in Redis,
// counted by every worker: a console in a process that runs no worker
// measures it as well.
func TestTheConsoleMeasuresAProvidersRateFromRedis(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{users: 8, concurrency: 2})
	clock := testclock.New(time.Now())
	src := newConsoleSource(b.cfg, b.rdb, apiHalts{halt.NewService(b.rdb, nil, nil), b.cfg, nil}, b.client)
	src.rates = console.NewSampler(time.Minute, clock.Now)
	rate := func() *console.Rate {
		t.Helper()
		ps, err := src.Providers(context.Background())
		require.NoError(t, err)
		require.Len(t, ps, 1)
		require.NotNil(t, ps[0].Current)
		return ps[0].Current
	}
	processed := func() (n int) {
		for _, q := range tasks.Queues("corp") {
			if info, err := b.insp.GetQueueInfo(q); err == nil {
				n += info.ProcessedTotal
			}
		}
		return n
	}
	require.True(t, rate().Measuring(), "one sample is no rate")

	var ids []string
	for i, e := range b.sample.Emails[:6] {
		ids = append(ids, b.enqueue(tasks.User{Email: e}, fmt.Sprint("rate-", i)))
	}
	require.Equal(t, 6, b.waitAll(ids, 30*time.Second)[tasks.Succeeded])
	eventually(t, 10*time.Second, func() bool { return processed() == 6 }, "Asynq counts the 6 tasks processed")
	clock.Add(12 * time.Second)
	r := rate()
	require.False(t, r.Measuring())
	require.Equal(t, 12*time.Second, r.Over)
	require.InDelta(t, 0.5, r.PerSecond, 1e-9, "6 tasks in 12 s")
	require.Equal(t, "0.5/s", r.String())

	clock.Add(time.Minute)
	r = rate()
	require.False(t, r.Measuring())
	require.Zero(t, r.PerSecond, "nothing processed in the last minute")
}

// A running campaign's time left is at the pace measured, once there is
// one; until then at its configured pace, else its provider's limit; a
// campaign measured standing still cannot tell.
func TestACampaignsTimeLeftIsAtItsMeasuredPace(t *testing.T) {
	t.Parallel()
	s := &consoleSource{cfg: &config.Config{Providers: []config.Provider{{Name: "corp", RateLimit: config.Rate{N: 10, Per: time.Second}}}}}
	running := &producer.Campaign{ID: "spring", Provider: "corp", Status: producer.CampaignRunning, Rows: 1000, Succeeded: 400, Inflight: 10}
	tests := []struct {
		name     string
		c        *producer.Campaign
		measured *console.Rate
		rate     string
		eta      string
	}{
		{"not measured", running, nil, "as fast as its provider allows (10/s)", "1m0s"},
		{"measuring", running, &console.Rate{}, "as fast as its provider allows (10/s)", "1m0s"},
		{"measured", running, &console.Rate{PerSecond: 4, Over: 30 * time.Second}, "as fast as its provider allows (10/s)", "2m30s"},
		{"standing still", running, &console.Rate{Over: 30 * time.Second}, "as fast as its provider allows (10/s)", ""},
		{"its own pace", &producer.Campaign{ID: "slow", Provider: "corp", Status: producer.CampaignRunning, Rows: 100, RateN: 2, RatePer: time.Second},
			&console.Rate{}, "2/s", "50s"},
		{"seconds rounded, not cut", &producer.Campaign{ID: "odd", Provider: "corp", Status: producer.CampaignRunning, Rows: 26, RateN: 3, RatePer: time.Second},
			nil, "3/s", "9s"},
		{"paused", &producer.Campaign{ID: "held", Provider: "corp", Status: producer.CampaignPaused, Rows: 100}, nil,
			"as fast as its provider allows (10/s)", ""},
	}
	for _, tt := range tests {
		cc := s.campaign(tt.c, tt.measured)
		require.Equal(t, tt.rate, cc.Rate, tt.name)
		require.Equal(t, tt.eta, cc.ETA, tt.name)
		require.Equal(t, tt.measured, cc.Measured, tt.name)
	}
}

// Keeping the check is best-effort: without Redis, `resetq provider check`
// checks all the same.
func TestProviderCheckWorksWithoutRedis(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{noWorker: true})
	b.redis.Stop()
	start := time.Now()
	code, out, errOut := b.cli("provider", "check", "corp")
	require.Equal(t, exitOK, code, "%s%s", out, errOut)
	require.Contains(t, out, "provider corp: ready")
	require.Less(t, time.Since(start), 10*time.Second, "Redis is not waited for long")
}

// consoleOnAPI starts `resetq api` with a token of those scopes and the
// console's operator ops.
func consoleOnAPI(t *testing.T, scopes string) (*bundle, *listener.Server) {
	t.Helper()
	b := setup(t, settings{noWorker: true, top: "api:\n  listen: 127.0.0.1:0\n  tokens:\n" +
		"    - {name: ops, token: " + listenOps + ", scopes: [" + scopes + "]}\n"})
	b.cfg.HTTP.Auth = config.HTTPAuth{Username: "ops", Password: "correct-horse"}
	a, err := startAPI(b.cfg, b.rdb, newLogger(b.cfg.Log, b.logs), listener.Limits{})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	return b, a
}
