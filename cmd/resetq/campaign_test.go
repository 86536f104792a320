package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/worker"
)

// binary is resetq built once for the tests that run real worker
// processes.
var binary struct {
	sync.Once
	path string
	err  error
}

func resetqBinary(t *testing.T) string {
	t.Helper()
	binary.Do(func() {
		dir, err := os.MkdirTemp("", "resetq-e2e-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "resetq")
		out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, binary.err)
	return binary.path
}

// process is a `resetq worker` running as its own process.
type process struct {
	t    *testing.T
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

func (b *bundle) startProcess() *process { return startWorkerProcess(b.t, b.path) }

// startWorkerProcess runs `resetq worker --config cfgPath` as a process of
// its own until the test ends.
func startWorkerProcess(t *testing.T, cfgPath string) *process {
	t.Helper()
	p := &process{t: t, logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(resetqBinary(t), "worker", "--config", cfgPath)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	eventually(t, 20*time.Second, func() bool { return strings.Contains(p.logs.String(), "resetq worker started") },
		"worker process started: %s", p.logs)
	return p
}

// kill stops the process at once, as a crash or an OOM kill would.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// emulatorProcess is the Keycloak emulator running as its own process: the
// race detector and the garbage collector of the test process pause it for
// tens of milliseconds at times, which would bunch up the times it logs.
type emulatorProcess struct {
	URL, Control string
	Sample       keycloaktest.Sample
}

func startEmulator(t *testing.T, users int) *emulatorProcess {
	t.Helper()
	cmd := exec.Command(resetqBinary(t), "emulator", "--users", fmt.Sprint(users), "--secret", testSecret)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	e := &emulatorProcess{}
	require.NoError(t, json.NewDecoder(stdout).Decode(e), "the emulator's first line")
	require.NoError(t, e.get("/sample", &e.Sample))
	return e
}

func (e *emulatorProcess) get(path string, v any) error {
	res, err := http.Get(e.Control + path)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	return json.NewDecoder(res.Body).Decode(v)
}

type emulated struct {
	Time   time.Time `json:"time"`
	Path   string    `json:"path"`
	Status int       `json:"status"`
}

// resets returns the execute-actions-email requests the emulator received,
// in order.
func (e *emulatorProcess) resets(t *testing.T) []emulated {
	t.Helper()
	var out []emulated
	require.NoError(t, e.get("/requests?endpoint="+string(keycloaktest.EndpointExecuteActions), &out))
	slices.SortFunc(out, func(a, b emulated) int { return a.Time.Compare(b.Time) })
	return out
}

// usersFile writes a campaign file of the emails, in order.
func (b *bundle) usersFile(emails []string) string {
	b.t.Helper()
	var sb strings.Builder
	sb.WriteString("email,ticket\n")
	for i, e := range emails {
		fmt.Fprintf(&sb, "%s,T-%d\n", e, i)
	}
	return tempFile(b.t, "users.csv", sb.String())
}

func (b *bundle) campaign(name string) *producer.Campaign {
	b.t.Helper()
	c, err := b.client.GetCampaign(context.Background(), name)
	require.NoError(b.t, err)
	return c
}

// maxInAnySecond is the most resets any one-second window holds.
func maxInAnySecond(times []time.Time) (most int, at time.Time) {
	j := 0
	for i := range times {
		for j < len(times) && times[j].Sub(times[i]) < time.Second {
			j++
		}
		if j-i > most {
			most, at = j-i, times[i]
		}
	}
	return most, at
}

const completedHook = `webhooks:
  retry_schedule: [1s]
  endpoints:
    - url: http://%s/hook
      secret: ` + hookSecret + `
      events: [campaign.completed]
      allow_private_networks: true
`

func (r *hookReceiver) ofType(typ string) []hookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []hookEvent
	for _, e := range r.events {
		if e.typ == typ {
			out = append(out, e)
		}
	}
	return out
}

// TestACampaignAtTwoHundredASecondAcrossTwoWorkers is the campaign the
// issue describes, at a fifth of its 20,000 users (15 s of the pace; the
// full size is make bench's campaign row): two real worker processes
// share the pace, every user is reset exactly once, the IdP never sees
// more than the pace in any second, and the campaign is announced once.
func TestACampaignAtTwoHundredASecondAcrossTwoWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("a 15-second campaign; run without -short")
	}
	// Not parallel: the other tests' processes would compete for the CPUs
	// and bunch the arrivals this test measures.
	hooks := newHookReceiver(t)
	const users = 3000
	em := startEmulator(t, users*11/10+200) // a tenth of the sample is disabled
	require.GreaterOrEqual(t, len(em.Sample.Emails), users)
	b := setup(t, settings{users: 1, concurrency: 20, noWorker: true, webhooks: fmt.Sprintf(completedHook, hooks.addr)})
	b.writeConfig(strings.Replace(mustRead(t, b.path), b.kc.URL(), em.URL, 1))
	emails := em.Sample.Emails[:users]
	file := b.usersFile(append(slices.Clone(emails), strings.ToUpper(emails[7])))
	b.startProcess()
	b.startProcess()

	code, out, errOut := b.cli("campaign", "start", file, "--provider", "corp", "--rate", "200/s", "--name", "big")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, fmt.Sprintf("campaign big: %d users from users.csv through corp, 1 duplicate rows skipped", users))
	require.Contains(t, out, "pace: 200/s; at most 20000 queued at once")

	eventually(t, 60*time.Second, func() bool { return b.campaign("big").Done() }, "the campaign ends: %+v", b.campaign("big"))
	c := b.campaign("big")
	require.Equal(t, producer.CampaignCompleted, c.Status)
	require.Equal(t, users, c.Succeeded)
	require.Equal(t, 1, c.Skipped, "the duplicate row")
	require.Zero(t, c.Failed+c.Inflight)

	resets := em.resets(t)
	perUser := map[string]int{}
	var times []time.Time
	for _, r := range resets {
		perUser[r.Path]++
		times = append(times, r.Time)
	}
	require.Len(t, perUser, users, "every user reset")
	for path, n := range perUser {
		require.Equal(t, 1, n, "%s reset once", path)
	}
	// The pace achieved is a speed, measured by make bench (the campaign
	// row); here only the safety bound is asserted.
	rate := float64(len(times)-1) / times[len(times)-1].Sub(times[0]).Seconds()
	t.Logf("achieved %.1f resets/s over %s", rate, times[len(times)-1].Sub(times[0]).Round(time.Millisecond))
	most, at := maxInAnySecond(times)
	t.Logf("most in any one second: %d (from %s)", most, at.Format(time.StampMilli))
	// The limiter grants at most the limit plus its burst in any second.
	// Between a grant and the emulator's clock lie a Redis reply, a
	// goroutine waking, an HTTP request and the emulator process being
	// scheduled; on a machine running the other packages' tests at the same
	// time, a stall there bunches the arrivals of the grants before it (206
	// to 216 measured alone, 231 once under make test, on the code before
	// and after this check). A quarter second of such delay is allowed: 50
	// resets. A fixed-window limiter shows up to 400 here, a limiter per
	// process 400 too, and a limiter with a larger burst its burst.
	burst := worker.Pace(200, time.Second).Burst
	require.Equal(t, 3, burst)
	require.LessOrEqual(t, most, 200+burst+50, "the limit plus its burst, in the second from %s", at.Format(time.StampMilli))

	eventually(t, 30*time.Second, func() bool { return len(hooks.ofType("campaign.completed")) > 0 }, "campaign.completed delivered")
	var ev struct {
		Data struct {
			Campaign string         `json:"campaign"`
			Status   string         `json:"status"`
			Totals   map[string]int `json:"totals"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(hooks.ofType("campaign.completed")[0].body, &ev))
	require.Equal(t, "big", ev.Data.Campaign)
	require.Equal(t, "completed", ev.Data.Status)
	require.Equal(t, map[string]int{"succeeded": users, "skipped": 1, "failed": 0, "cancelled": 0}, ev.Data.Totals)
	require.NoError(t, hooks.ofType("campaign.completed")[0].verr)

	// Starting the same file again resumes the finished campaign: nothing
	// is sent twice.
	code, out, errOut = b.cli("campaign", "start", file, "--provider", "corp", "--rate", "200/s", "--name", "big")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "campaign big already exists for this file (completed")
	eventually(t, 10*time.Second, func() bool {
		ids, err := campaigns.NewStore(b.rdb).Active(context.Background())
		require.NoError(t, err)
		return !slices.Contains(ids, "big")
	}, "the finished campaign is retired")
	eventually(t, 10*time.Second, func() bool {
		info, err := b.insp.GetQueueInfo(tasks.WebhookQueueName)
		return err == nil && info.Size == 0
	}, "no delivery pending")
	require.Len(t, hooks.ofType("campaign.completed"), 1, "announced exactly once by the two workers")
	require.Len(t, em.resets(t), users)
}

// TestPauseResumeAndCancelMidRun steers a running campaign from the
// command line and checks the counts at every step.
func TestPauseResumeAndCancelMidRun(t *testing.T) {
	t.Parallel()
	hooks := newHookReceiver(t)
	b := setup(t, settings{users: 700, concurrency: 5, webhooks: fmt.Sprintf(completedHook, hooks.addr),
		top: "campaigns: {feed_interval: 20ms}\n"})
	emails := b.sample.Emails[:600]
	file := b.usersFile(emails)
	code, _, errOut := b.cli("campaign", "start", file, "--provider", "corp", "--rate", "100/s", "--name", "steer")
	require.Equal(t, exitOK, code, errOut)
	eventually(t, 30*time.Second, func() bool { return b.campaign("steer").Finished() >= 100 }, "progress")

	code, out, errOut := b.cli("campaign", "pause", "steer")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "steer  paused")
	eventually(t, 10*time.Second, func() bool { return b.campaign("steer").Inflight == 0 }, "resets in flight finish")
	paused := b.campaign("steer")
	sent := len(b.kc.RequestsTo(keycloaktest.EndpointExecuteActions))
	require.Equal(t, paused.Succeeded, sent)
	require.Equal(t, 600-sent, paused.Waiting(), "everything not sent waits")
	passes(t, b.w.feeder, 10)
	require.Equal(t, sent, len(b.kc.RequestsTo(keycloaktest.EndpointExecuteActions)), "nothing is sent while paused")
	require.Equal(t, paused.Totals(), b.campaign("steer").Totals())

	code, out, errOut = b.cli("campaign", "status", "steer", "--output", "json")
	require.Equal(t, exitOK, code, errOut)
	var view producer.CampaignView
	require.NoError(t, json.Unmarshal([]byte(out), &view))
	require.Equal(t, "paused", view.Status)
	require.Equal(t, 600-sent, view.Totals["waiting"])

	code, _, errOut = b.cli("campaign", "resume", "steer")
	require.Equal(t, exitOK, code, errOut)
	eventually(t, 30*time.Second, func() bool { return b.campaign("steer").Finished() >= sent+100 }, "progress after the resume")

	code, out, errOut = b.cli("campaign", "cancel", "steer")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "steer  cancelled")
	eventually(t, 10*time.Second, func() bool { return b.campaign("steer").Done() }, "resets in flight finish, then it ends")
	end := b.campaign("steer")
	sent = len(b.kc.RequestsTo(keycloaktest.EndpointExecuteActions))
	require.Equal(t, producer.CampaignCancelled, end.Status)
	require.Equal(t, sent, end.Succeeded)
	require.Equal(t, 600-sent, end.Cancelled, "everything not sent is cancelled")
	for id, rs := range b.puts() {
		require.Len(t, rs, 1, "user %s reset once", id)
	}

	code, out, errOut = b.cli("campaign", "report", "steer", "--state", "cancelled")
	require.Equal(t, exitOK, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1+end.Cancelled)
	require.Regexp(t, `^\d+,email,user\d+@example\.com,cancelled,cancelled,0,20\d\d-`, lines[1])

	eventually(t, 30*time.Second, func() bool { return len(hooks.ofType("campaign.completed")) == 1 }, "announced")
	require.Contains(t, string(hooks.ofType("campaign.completed")[0].body), `"status":"cancelled"`)

	code, _, errOut = b.cli("campaign", "resume", "steer")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "cannot resume campaign steer, which is cancelled")
}

// passes waits for a feeder to look at the campaigns n more times.
func passes(t *testing.T, f *campaigns.Feeder, n uint64) {
	t.Helper()
	want := f.Passes() + n
	eventually(t, 10*time.Second, func() bool { return f.Passes() >= want }, "%d feeder passes", n)
}

func TestCampaignDryRunAndRefusalNameEveryBadLine(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{noWorker: true})
	file := tempFile(t, "bad.csv", "email,team\n"+
		"alice@example.com,eng\n"+ // 2
		"alice(at)example.com,eng\n"+ // 3: bad email
		",ops\n"+ // 4: no user
		"bob@example.com,\"ops\n"+ // 5-6: quoted field running on
		"\"\n"+
		"Alice@Example.com,sales\n") // 7: duplicate of 2

	code, out, _ := b.cli("campaign", "start", file, "--provider", "corp", "--dry-run")
	require.Equal(t, exitFailure, code, "a dry run with invalid rows exits 1")
	require.Equal(t, file+": 5 rows, 2 users to reset, 1 duplicate rows (reset once), 2 invalid rows\n"+
		"line 3: invalid_user: user.email: \"alice(at)example.com\" is not an email address\n"+
		"line 4: no_user: no id, email, username on this row\n"+
		"line 7: duplicate_row: the same user as line 2; reset once\n", out)

	code, out, _ = b.cli("campaign", "start", file, "--provider", "corp", "--dry-run", "--output", "json")
	require.Equal(t, exitFailure, code)
	var scan producer.ScanView
	require.NoError(t, json.Unmarshal([]byte(out), &scan))
	require.Equal(t, map[string]int{"invalid_user": 1, "no_user": 1, "duplicate_row": 1}, scan.Reasons)

	code, out, errOut := b.cli("campaign", "start", file, "--provider", "corp")
	require.Equal(t, exitUsage, code)
	require.Contains(t, out, "line 3: invalid_user")
	require.Contains(t, errOut, "2 of 5 rows are invalid (first on line 3)")
	list, err := b.client.Campaigns(context.Background())
	require.NoError(t, err)
	require.Empty(t, list, "nothing stored")

	for _, args := range [][]string{
		{"campaign", "start", file},
		{"campaign", "start", file, "--provider", "okta"},
		{"campaign", "start", file, "--provider", "corp", "--rate", "fast"},
		{"campaign", "start", file, "--provider", "corp", "--rate", "5/s", "--spread", "1h"},
		{"campaign", "start", file, "--provider", "corp", "--name", "Bad Name"},
		{"campaign", "start", file, "--provider", "corp", "--start-at", "tomorrow"},
		{"campaign", "start", filepath.Join(t.TempDir(), "missing.csv"), "--provider", "corp"},
		{"campaign", "status", "nope"},
		{"campaign", "report", "nope"},
	} {
		code, _, errOut := b.cli(args...)
		require.Equal(t, exitUsage, code, "%v: %s", args, errOut)
		require.NotEmpty(t, errOut)
	}

	code, out, errOut = b.cli("campaign", "start", file, "--provider", "corp", "--skip-invalid", "--name", "skipping", "--detach")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "2 invalid rows recorded as failed")
	code, out, _ = b.cli("campaign", "list")
	require.Equal(t, exitOK, code)
	require.Regexp(t, `skipping\s+running\s+corp\s+3/5\s+0\s+1\s+2\s+0`, out)
	code, out, _ = b.cli("campaign", "status", "skipping")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "\nwhy: skipped duplicate_row 1, failed invalid_row 2\n", "the rows that did not succeed, by reason")
}

// TestStatusWatchFollowsACampaignToItsEnd watches from a script's point of
// view: JSON lines until the campaign ends, then exit 0.
func TestStatusWatchFollowsACampaignToItsEnd(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{users: 60, top: "campaigns: {feed_interval: 20ms}\n"})
	file := b.usersFile(b.sample.Emails[:40])
	code, out, errOut := b.cli("campaign", "start", file, "--provider", "corp", "--rate", "50/s", "--name", "watched")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "watched  running", "not a terminal: one plain line, then it returns")

	code, out, errOut = b.cli("campaign", "status", "watched", "--watch", "--interval", "100ms", "--output", "json")
	require.Equal(t, exitOK, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Greater(t, len(lines), 1, "a line per interval")
	var first, last producer.CampaignView
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &last))
	require.Less(t, first.Totals["succeeded"], 40)
	require.Equal(t, "completed", last.Status)
	require.Equal(t, 40, last.Totals["succeeded"])

	code, out, errOut = b.cli("campaign", "status", "watched")
	require.Equal(t, exitOK, code, errOut)
	require.Regexp(t, `^watched  completed  40/40 \(100\.0%\)  succeeded 40  skipped 0  failed 0  cancelled 0  queued 0\n`+
		`provider corp, file users.csv \(sha256 [0-9a-f]{12}…\), created .+, started .+, finished .+\n$`, out)
}

// campaign start runs its one pass with the collector at 50 % (a million
// rows' import peaks about 10 MB lower), unless GOGC says otherwise. Not
// parallel: it sets the environment and reads the process's setting.
func TestCampaignStartTightensTheCollectorUnlessGOGCIsSet(t *testing.T) {
	b := setup(t, settings{noWorker: true})
	file := b.usersFile(b.sample.Emails[:3])
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for env, want := range map[string]int{"": 50, "100": 100, "off": 100} {
		t.Setenv("GOGC", env)
		debug.SetGCPercent(100)
		code, _, errOut := b.cli("campaign", "start", file, "--provider", "corp", "--dry-run")
		require.Equal(t, exitOK, code, errOut)
		require.Equal(t, want, debug.SetGCPercent(100), "GOGC=%q", env)
	}
}
