//go:build chaos

package main

// The chaos suite (`make chaos`): real worker processes, a real
// redis-server, the Keycloak emulator as a process of its own, and the
// troubles of production — a worker killed, Redis restarted, the IdP down,
// throttling, a secret rotated under resetq, a webhook receiver gone. Each
// scenario prints one line: users, lost, duplicates, failed, time.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/redistest"
)

// chaosWorld is one scenario's world.
type chaosWorld struct {
	*bundle
	em    *emulatorProcess
	users []string
	start time.Time
}

func newChaosWorld(t *testing.T, users, concurrency int, s settings) *chaosWorld {
	t.Helper()
	em := startEmulator(t, users*11/10+200)
	s.users, s.concurrency, s.noWorker = 1, concurrency, true
	b := setup(t, s)
	b.writeConfig(strings.Replace(mustRead(t, b.path), b.kc.URL(), em.URL, 1))
	require.GreaterOrEqual(t, len(em.Sample.Emails), users)
	return &chaosWorld{bundle: b, em: em, users: em.Sample.Emails[:users]}
}

// startCampaign starts the campaign over the world's users at rate/s.
func (w *chaosWorld) startCampaign(name string, rate int) {
	w.t.Helper()
	code, _, errOut := w.cli("campaign", "start", w.usersFile(w.users), "--provider", "corp",
		"--rate", fmt.Sprintf("%d/s", rate), "--name", name)
	require.Equal(w.t, exitOK, code, errOut)
	w.start = time.Now()
}

// emulator calls the emulator's control listener.
func (w *chaosWorld) emulator(method, path string) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.em.Control+path, nil)
	require.NoError(w.t, err)
	// Each call on a connection of its own: the emulator closes one idle
	// for 60 s, and the outage test calls again after exactly a minute, so
	// a kept-alive connection could be closed under the call (CI saw it).
	req.Close = true
	res, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	res.Body.Close()
	require.Equal(w.t, http.StatusOK, res.StatusCode, "%s %s", method, path)
}

// sent counts the resets the emulator accepted, per user.
func (w *chaosWorld) sent() map[string]int {
	out := map[string]int{}
	for _, r := range w.em.resets(w.t) {
		if r.Status >= 200 && r.Status < 300 {
			out[r.Path]++
		}
	}
	return out
}

var summaries sync.Mutex

// summarize prints the scenario's line and returns its figures.
func (w *chaosWorld) summarize(scenario, campaign string) (lost, duplicates, failed int) {
	w.t.Helper()
	sent := w.sent()
	lost = len(w.users) - len(sent)
	for _, n := range sent {
		duplicates += n - 1
	}
	c := w.campaign(campaign)
	failed = c.Failed
	summaries.Lock()
	fmt.Printf("CHAOS %-34s users=%-6d lost=%d duplicates=%d failed=%d time=%s\n",
		scenario, len(w.users), lost, duplicates, failed, time.Since(w.start).Round(time.Second))
	summaries.Unlock()
	return lost, duplicates, failed
}

func (w *chaosWorld) waitDone(campaign string, within time.Duration) {
	w.t.Helper()
	eventually(w.t, within, func() bool {
		c, err := w.client.GetCampaign(context.Background(), campaign)
		return err == nil && c.Done()
	}, "campaign %s ends", campaign)
}

func TestChaosWorkerKilledMidCampaign(t *testing.T) {
	t.Parallel()
	const concurrency = 20
	w := newChaosWorld(t, 10000, concurrency, settings{})
	p := w.startProcess()
	w.startCampaign("kill", 400)
	eventually(t, 60*time.Second, func() bool { return w.campaign("kill").Finished() >= 3000 }, "progress")
	p.kill()
	w.startProcess()
	w.waitDone("kill", 5*time.Minute)
	lost, dups, failed := w.summarize("kill -9 a worker, restart it", "kill")
	require.Zero(t, lost)
	require.Zero(t, failed)
	require.LessOrEqual(t, dups, concurrency, "at most the resets in flight")
}

func TestChaosRedisRestartedMidCampaign(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "everysec")
	const concurrency = 10
	w := newChaosWorld(t, 3000, concurrency, settings{redisURL: rs.URL(0), top: "campaigns: {stall_after: 10s}\n"})
	w.startProcess()
	w.startCampaign("redis", 300)
	eventually(t, 60*time.Second, func() bool { return w.campaign("redis").Finished() >= 1000 }, "progress")
	require.NoError(t, rs.Restart()) // SIGKILL, then the AOF is replayed
	w.waitDone("redis", 5*time.Minute)
	lost, _, failed := w.summarize("Redis killed, restarted from AOF", "redis")
	require.Zero(t, lost)
	require.Zero(t, failed)
}

func TestChaosIdPDownForAMinute(t *testing.T) {
	t.Parallel()
	w := newChaosWorld(t, 2000, 10, settings{})
	w.startProcess()
	w.startCampaign("outage", 200)
	eventually(t, 60*time.Second, func() bool { return w.campaign("outage").Finished() >= 500 }, "progress")
	w.emulator("POST", "/faults?status=503") // every route, until cleared
	// The outage lasts a minute; nothing may fail meanwhile.
	tick := time.NewTicker(time.Second)
	for end := time.Now().Add(time.Minute); time.Now().Before(end); <-tick.C {
		require.Zero(t, w.campaign("outage").Failed, "failed during the outage")
	}
	tick.Stop()
	w.emulator("DELETE", "/faults")
	w.waitDone("outage", 5*time.Minute)
	lost, dups, failed := w.summarize("IdP answers 503 for 60 s", "outage")
	require.Zero(t, lost)
	require.Zero(t, failed, "an outage is waited out, not failed")
	require.Zero(t, dups)
}

func TestChaosRateLimitStorm(t *testing.T) {
	t.Parallel()
	w := newChaosWorld(t, 1000, 10, settings{})
	w.startProcess()
	w.emulator("POST", "/faults?endpoint="+string(keycloaktest.EndpointExecuteActions)+"&status=429&every=2&retry_after=3s")
	w.startCampaign("storm", 200)
	w.waitDone("storm", 5*time.Minute)
	w.emulator("DELETE", "/faults")
	lost, dups, failed := w.summarize("429 with Retry-After on every 2nd", "storm")
	require.Zero(t, lost)
	require.Zero(t, failed, "throttling is waited out, not failed")
	require.Zero(t, dups)
	// Every user told to wait 3 s was asked again no sooner.
	last := map[string]emulated{}
	waited := 0
	for _, r := range w.em.resets(t) {
		if prev, ok := last[r.Path]; ok && prev.Status == http.StatusTooManyRequests {
			require.GreaterOrEqual(t, r.Time.Sub(prev.Time), 3*time.Second, "%s came back early", r.Path)
			waited++
		}
		last[r.Path] = r
	}
	require.Positive(t, waited)
}

func TestChaosSecretRotatedUnderResetq(t *testing.T) {
	t.Parallel()
	w := newChaosWorld(t, 2000, 10, settings{})
	secretFile := tempFile(t, "client-secret", testSecret)
	w.writeConfig(strings.Replace(mustRead(t, w.path), "client_secret: "+testSecret, "client_secret_file: "+secretFile, 1))
	p := w.startProcess()
	w.startCampaign("rotated", 200)
	eventually(t, 60*time.Second, func() bool { return w.campaign("rotated").Finished() >= 500 }, "progress")

	const rotated = "rotated-client-secret-5e9a1c"
	w.emulator("POST", "/secret?value="+rotated)
	rotatedAt := time.Now()
	waitHalted(t, w.rdb, 30*time.Second, "halted")
	t.Logf("halted %s after the rotation", time.Since(rotatedAt).Round(time.Millisecond))
	require.Less(t, time.Since(rotatedAt), 10*time.Second, "within seconds")
	require.Zero(t, w.campaign("rotated").Failed, "nothing failed: the tasks wait")

	// The fix: the new secret where resetq reads it, a rolling restart,
	// and the resume.
	require.NoError(t, os.WriteFile(secretFile, []byte(rotated), 0o600))
	p.stop()
	w.startProcess()
	code, out, errOut := w.cli("provider", "resume", "corp")
	require.Equal(t, exitOK, code, "%s %s", out, errOut)
	w.waitDone("rotated", 5*time.Minute)
	lost, dups, failed := w.summarize("client secret rotated mid-run", "rotated")
	require.Zero(t, lost)
	require.Zero(t, failed)
	require.Zero(t, dups)
}

func TestChaosWebhookReceiverDownTwoMinutes(t *testing.T) {
	t.Parallel()
	hooks := newHookReceiver(t)
	w := newChaosWorld(t, 1000, 10, settings{webhooks: hooks.section("[5s, 15s, 30s, 60s, 60s, 60s]")})
	hooks.down()
	w.startProcess()
	w.startCampaign("hooks", 100)
	w.waitDone("hooks", 2*time.Minute)
	eventually(t, 3*time.Minute, func() bool { return time.Since(w.start) >= 2*time.Minute }, "the receiver stays down two minutes")
	hooks.up()
	eventually(t, 5*time.Minute, func() bool {
		ids := map[string]bool{}
		for _, e := range hooks.received() {
			ids[e.id] = true
		}
		return len(ids) >= 1001 // 1,000 resets and the campaign
	}, "every event delivered after the receiver is back")
	byID := map[string]string{}
	for _, e := range hooks.received() {
		require.NoError(t, e.verr)
		key := e.typ + string(e.body[strings.Index(string(e.body), `"data"`):])
		if prev, ok := byID[e.id]; ok {
			require.Equal(t, prev, key, "one webhook-id names one event")
		}
		byID[e.id] = key
	}
	require.Len(t, byID, 1001, "one webhook-id per event")
	lost, dups, failed := w.summarize("webhook receiver down 2 minutes", "hooks")
	require.Zero(t, lost)
	require.Zero(t, failed)
	require.Zero(t, dups, "no reset repeated for a webhook")
}

// TestChaosBothWorkersKilledMidCampaign kills both worker processes
// mid-campaign (SIGKILL: no shutdown, tasks left active, leases held),
// starts them again, and expects every user reset and nothing lost. It
// waits a minute or more for Asynq to recover the tasks the killed
// workers held (their leases run 30 s, its recoverer looks once a
// minute), so it runs with the chaos suite, not make test.
func TestChaosBothWorkersKilledMidCampaign(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{users: 3400, concurrency: 10, noWorker: true})
	emails := b.sample.Emails[:3000]
	file := b.usersFile(emails)
	a, c := b.startProcess(), b.startProcess()
	code, _, errOut := b.cli("campaign", "start", file, "--provider", "corp", "--rate", "300/s", "--name", "crash")
	require.Equal(t, exitOK, code, errOut)

	eventually(t, 30*time.Second, func() bool { return b.campaign("crash").Finished() >= 800 }, "progress before the crash")
	a.kill()
	eventually(t, 30*time.Second, func() bool { return b.campaign("crash").Finished() >= 1500 }, "the other worker goes on (and takes the feeding over)")
	c.kill()
	before := b.campaign("crash")
	require.False(t, before.Done())
	b.startProcess()
	b.startProcess()

	eventually(t, 200*time.Second, func() bool { return b.campaign("crash").Done() }, "the campaign ends after the restart: %+v", b.campaign("crash"))
	got := b.campaign("crash")
	require.Equal(t, 3000, got.Succeeded, "nothing lost")
	require.Zero(t, got.Failed+got.Skipped+got.Inflight)
	puts := b.puts()
	require.Len(t, puts, 3000, "every user reset")
	again := 0
	for _, rs := range puts {
		again += len(rs) - 1
	}
	// A reset the IdP accepted just before a SIGKILL, with its outcome not
	// yet recorded, is sent again: at most one per slot that was busy.
	require.LessOrEqual(t, again, 2*10, "resets sent twice")
	t.Logf("resets sent twice after the kills: %d", again)
}

// TestChaosSentinelFailoverMidCampaign kills the Redis master while a
// campaign runs. The sentinels promote the replica, the worker follows
// them, /readyz says not ready while Redis is gone, and the campaign
// finishes with every user reset. Replication is asynchronous: writes of the last moments
// before the kill can be lost, and a reset whose record was among them is
// sent again. Those are counted, and bounded by the resets in flight.
// The tasks in flight when the master died are recovered by Asynq once
// their leases run out, a minute or two later: the chaos suite's pace, not
// make test's (TestTheWorkerFollowsASentinelFailover is its quick part).
func TestChaosSentinelFailoverMidCampaign(t *testing.T) {
	t.Parallel()
	sn := redistest.StartSentinel(t)
	const concurrency = 10
	b := setup(t, settings{users: 2300, concurrency: concurrency, redisURL: sn.URL(),
		top: "campaigns: {feed_interval: 50ms, stall_after: 5s}\n"})
	file := b.usersFile(b.sample.Emails[:2000])
	code, _, errOut := b.cli("campaign", "start", file, "--provider", "corp", "--rate", "200/s", "--name", "failover")
	require.Equal(t, exitOK, code, errOut)
	eventually(t, 30*time.Second, func() bool { return b.campaign("failover").Finished() >= 500 }, "progress before the failover")

	outage := watchReadyz(b.w.listener.Addr)
	sent := len(b.kc.RequestsTo(keycloaktest.EndpointExecuteActions))
	sn.StopMaster(t)
	t.Logf("master killed after %d resets", sent)
	outage.waitReadyAgain(t, 30*time.Second)

	var last syncBuffer // the campaign as last read, for the failure message
	eventually(t, 180*time.Second, func() bool {
		c, err := b.client.GetCampaign(context.Background(), "failover")
		if err != nil {
			last.Set("reading the campaign: " + err.Error())
			return false
		}
		last.Set(fmt.Sprintf("%+v", *c))
		return c.Done()
	}, "the campaign finishes on the promoted replica; last read: %s", &last)
	got := b.campaign("failover")
	require.Equal(t, 2000, got.Succeeded, "every user")
	puts := b.puts()
	require.Len(t, puts, 2000, "every user reset")
	again := 0
	for _, rs := range puts {
		again += len(rs) - 1
	}
	t.Logf("resets sent twice because of the failover: %d (in flight: at most %d)", again, concurrency)
	require.LessOrEqual(t, again, concurrency)
}
