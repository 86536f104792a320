package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/redisconn"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// TestTheWorkerFollowsASentinelFailover configures Redis as a sentinel
// set and kills the master between resets: /readyz says not ready while
// Redis is gone and ready again after the promotion, and resets go
// through before and after. (The failover in the middle of a campaign,
// with the resets in flight that Asynq must recover, is the chaos suite's
// TestChaosSentinelFailoverMidCampaign.)
func TestTheWorkerFollowsASentinelFailover(t *testing.T) {
	t.Parallel()
	sn := redistest.StartSentinel(t)
	b := setup(t, settings{redisURL: sn.URL()})
	require.Equal(t, tasks.Succeeded, b.wait(b.enqueue(tasks.User{Email: b.sample.Emails[0]}, "before"), 10*time.Second).Outcome)

	outage := watchReadyz(b.w.listener.Addr)
	sn.StopMaster(t)
	outage.waitReadyAgain(t, 30*time.Second)
	require.Equal(t, tasks.Succeeded, b.wait(b.enqueue(tasks.User{Email: b.sample.Emails[1]}, "after"), 30*time.Second).Outcome,
		"a reset on the promoted replica")
	puts := b.puts()
	require.Len(t, puts, 2)
	for id, rs := range puts {
		require.Len(t, rs, 1, "user %s reset once", id)
	}
}

// readyzWatch polls a worker's /readyz through a Redis outage.
type readyzWatch struct {
	notReady, readyAgain atomic.Bool
	stop, stopped        chan struct{}
}

func watchReadyz(addr string) *readyzWatch {
	w := &readyzWatch{stop: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(w.stopped)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			switch status(addr, "/readyz") {
			case http.StatusServiceUnavailable:
				w.notReady.Store(true)
			case http.StatusOK:
				if w.notReady.Load() {
					w.readyAgain.Store(true)
				}
			}
		}
	}()
	return w
}

// waitReadyAgain waits for /readyz to go 503, then 200, and stops
// watching.
func (w *readyzWatch) waitReadyAgain(t *testing.T, within time.Duration) {
	t.Helper()
	defer func() { close(w.stop); <-w.stopped }()
	eventually(t, within, w.readyAgain.Load, "/readyz goes 503 while Redis is gone, then 200 after the promotion")
	require.True(t, w.notReady.Load())
}

// TestClusterThreeProvidersOnThreeShards runs three providers whose queues
// hash to three different shards of a Redis Cluster, and a campaign, through
// one worker.
func TestClusterThreeProvidersOnThreeShards(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3)
	probe, err := redisconn.OpenCluster(redisconn.Cluster{Addrs: cl.Addrs()}, 0)
	require.NoError(t, err)
	defer probe.Close()
	ctx := context.Background()
	// Pick provider names whose queues land on three different shards.
	byNode := map[string]string{}
	for i := 0; len(byNode) < 3 && i < 1000; i++ {
		name := fmt.Sprintf("p%d", i)
		node, err := probe.(*redis.ClusterClient).MasterForKey(ctx, "asynq:{"+tasks.QueueName(name)+"}:pending")
		require.NoError(t, err)
		if _, taken := byNode[node.Options().Addr]; !taken {
			byNode[node.Options().Addr] = name
		}
	}
	require.Len(t, byNode, 3)
	var names []string
	for _, n := range byNode {
		names = append(names, n)
	}

	kc := keycloaktest.NewServer()
	t.Cleanup(kc.Close)
	kc.AddServiceAccount(realm, "resetq", testSecret)
	sample := kc.AddSampleUsers(realm, 200)
	yaml := fmt.Sprintf("redis:\n  cluster: {addrs: [%q]}\nworker: {concurrency: 5, poll_interval: 20ms}\n"+
		"http: {listen: \"127.0.0.1:0\"}\ncampaigns: {feed_interval: 50ms}\nproviders:\n", cl.Addrs()[0])
	for _, n := range names {
		yaml += keycloakProvider(n, kc.URL(), realm)
	}
	conf, w := startFromYAML(t, yaml)
	_, isCluster := conf.rdb.(*redis.ClusterClient)
	require.True(t, isCluster)
	client := conf.client

	var ids []string
	for i, n := range names {
		for j := range 20 {
			res, err := client.Enqueue(ctx, producer.Request{Provider: n, User: tasks.User{Email: sample.Emails[i*20+j]}})
			require.NoError(t, err)
			ids = append(ids, res.TaskID)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, id := range ids {
		r, err := client.Wait(wctx, id)
		require.NoError(t, err)
		require.Equal(t, tasks.Succeeded, r.Outcome)
	}

	// A campaign's keys share their own hash tag, on whichever shard.
	csv := "email\n"
	for _, e := range sample.Emails[100:150] {
		csv += e + "\n"
	}
	res, err := client.StartCampaign(ctx, strings.NewReader(csv), producer.CampaignRequest{Name: "sharded", Provider: names[2]})
	require.NoError(t, err)
	require.Equal(t, 50, res.Campaign.Rows)
	eventually(t, 60*time.Second, func() bool {
		c, err := client.GetCampaign(ctx, "sharded")
		return err == nil && c.Done()
	}, "the campaign completes on the cluster")
	c, err := client.GetCampaign(ctx, "sharded")
	require.NoError(t, err)
	require.Equal(t, 50, c.Succeeded)
	require.Equal(t, 110, kc.TotalResets())

	// The queue metrics read every shard.
	for i, n := range names {
		require.Equal(t, 1.0, gathered(t, w.registry, "resetq_queue_metrics_up", map[string]string{"queue": tasks.QueueName(n)}))
		want := 20.0
		if i == 2 {
			want += 50 // the campaign's
		}
		require.Equal(t, want, gathered(t, w.registry, "resetq_resets_total", map[string]string{"provider": n, "outcome": "succeeded"}))
	}
}

// TestRollingRestartOfTwoWorkersLosesNothing restarts two worker processes
// one after the other, as a rolling deployment does, while a campaign runs:
// SIGTERM lets each finish its resets in flight within the shutdown
// timeout, the other takes the campaign's feeding over, and nobody is
// reset twice or forgotten.
func TestRollingRestartOfTwoWorkersLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("two real worker processes restarted in turn; run without -short")
	}
	t.Parallel()
	// 1,000 users at 200/s: five seconds, time for two restarts.
	const users = 1000
	b := setup(t, settings{users: users*11/10 + 100, concurrency: 10, noWorker: true, shutdown: 5 * time.Second})
	file := b.usersFile(b.sample.Emails[:users])
	a, c := b.startProcess(), b.startProcess()
	code, _, errOut := b.cli("campaign", "start", file, "--provider", "corp", "--rate", "200/s", "--name", "rolling")
	require.Equal(t, exitOK, code, errOut)

	for i, p := range []*process{a, c} {
		eventually(t, 30*time.Second, func() bool { return b.campaign("rolling").Finished() >= 250*(i+1) }, "progress")
		start := time.Now()
		p.stop()
		took := time.Since(start)
		t.Logf("worker %d stopped in %s", i+1, took.Round(time.Millisecond))
		require.Less(t, took, 5*time.Second+3*time.Second, "within the shutdown timeout")
		require.Contains(t, p.logs.String(), "resetq worker stopped")
		b.startProcess()
	}
	eventually(t, 60*time.Second, func() bool { return b.campaign("rolling").Done() }, "the campaign finishes")
	require.Equal(t, users, b.campaign("rolling").Succeeded)
	for id, rs := range b.puts() {
		require.Len(t, rs, 1, "user %s reset once", id)
	}
	require.Len(t, b.puts(), users)
}

// stop asks a worker process to shut down, as Kubernetes does, and waits.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		p.t.Fatal("the worker process did not stop")
	}
}
