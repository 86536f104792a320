package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/redisconn"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// TestSentinelFailoverMidCampaign kills the Redis master while a campaign
// runs. The sentinels promote the replica, the worker follows them, /readyz
// says not ready while Redis is gone, and the campaign finishes with every
// user reset. Replication is asynchronous: writes of the last moments
// before the kill can be lost, and a reset whose record was among them is
// sent again. Those are counted, and bounded by the resets in flight.
func TestSentinelFailoverMidCampaign(t *testing.T) {
	if testing.Short() {
		t.Skip("a Redis failover; run without -short")
	}
	t.Parallel()
	sn := redistest.StartSentinel(t)
	const concurrency = 10
	b := setup(t, settings{users: 2300, concurrency: concurrency, redisURL: sn.URL(),
		top: "campaigns: {feed_interval: 50ms, stall_after: 5s}\n"})
	file := b.usersFile(b.sample.Emails[:2000])
	code, _, errOut := b.cli("campaign", "start", file, "--provider", "corp", "--rate", "200/s", "--name", "failover")
	require.Equal(t, exitOK, code, errOut)
	eventually(t, 30*time.Second, func() bool { return b.campaign("failover").Finished() >= 500 }, "progress before the failover")

	// Watch /readyz through the outage.
	var notReady, readyAgain atomic.Bool
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			res, err := http.Get("http://" + b.w.listener.Addr + "/readyz")
			if err != nil {
				continue
			}
			res.Body.Close()
			switch {
			case res.StatusCode == http.StatusServiceUnavailable:
				notReady.Store(true)
			case res.StatusCode == http.StatusOK && notReady.Load():
				readyAgain.Store(true)
			}
		}
	}()
	sent := len(b.kc.RequestsTo(keycloaktest.EndpointExecuteActions))
	sn.Master.Stop()
	t.Logf("master killed after %d resets", sent)
	eventually(t, 30*time.Second, readyAgain.Load, "/readyz goes 503 while Redis is gone, then 200 after the promotion")
	close(stop)
	<-watched
	require.True(t, notReady.Load())

	last := time.Now()
	eventually(t, 180*time.Second, func() bool {
		c, err := b.client.GetCampaign(context.Background(), "failover")
		if time.Since(last) > 5*time.Second {
			last = time.Now()
			if err != nil {
				t.Logf("reading the campaign: %v", err)
			} else {
				t.Logf("%+v", *c)
			}
		}
		return err == nil && c.Done()
	}, "the campaign finishes on the promoted replica")
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
		yaml += fmt.Sprintf("  - {name: %s, type: keycloak, base_url: %q, realm: corp, auth: {client_id: resetq, client_secret: %s}}\n",
			n, kc.URL(), testSecret)
	}
	path := filepath.Join(t.TempDir(), "resetq.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	rdb, err := openRedis(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	_, isCluster := rdb.(*redis.ClusterClient)
	require.True(t, isCluster)
	w, err := startWorker(ctx, cfg, rdb, newLogger(cfg.Log, &syncBuffer{}))
	require.NoError(t, err)
	t.Cleanup(w.stop)
	client, err := producer.NewClient(producerConfig(cfg, rdb))
	require.NoError(t, err)

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
	b := setup(t, settings{users: 2300, concurrency: 10, noWorker: true, shutdown: 5 * time.Second})
	file := b.usersFile(b.sample.Emails[:2000])
	a, c := b.startProcess(), b.startProcess()
	code, _, errOut := b.cli("campaign", "start", file, "--provider", "corp", "--rate", "200/s", "--name", "rolling")
	require.Equal(t, exitOK, code, errOut)

	for i, p := range []*process{a, c} {
		eventually(t, 30*time.Second, func() bool { return b.campaign("rolling").Finished() >= 400*(i+1) }, "progress")
		start := time.Now()
		p.stop()
		took := time.Since(start)
		t.Logf("worker %d stopped in %s", i+1, took.Round(time.Millisecond))
		require.Less(t, took, 5*time.Second+3*time.Second, "within the shutdown timeout")
		require.Contains(t, p.logs.String(), "resetq worker stopped")
		b.startProcess()
	}
	eventually(t, 60*time.Second, func() bool { return b.campaign("rolling").Done() }, "the campaign finishes")
	require.Equal(t, 2000, b.campaign("rolling").Succeeded)
	for id, rs := range b.puts() {
		require.Len(t, rs, 1, "user %s reset once", id)
	}
	require.Len(t, b.puts(), 2000)
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
