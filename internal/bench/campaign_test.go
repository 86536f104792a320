package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/redisconn"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/worker"
)

const (
	campaignRows = 1_000_000
	campaignRate = 200
)

// usedMemory reads Redis's used_memory and used_memory_peak.
func usedMemory(b *testing.B, rdb redis.UniversalClient) (used, peak int64) {
	b.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "used_memory":
			used = n
		case "used_memory_peak":
			peak = n
		}
	}
	return used, peak
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }

// vmHWM is a process's peak resident set size so far, in bytes (0 once it
// has exited).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// writeUsers writes a campaign file of n users with a meta column: first
// the emulator's users, then addresses nobody has.
func writeUsers(b *testing.B, path string, known []string, n int) int64 {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "email,department")
	for i := range n {
		email := fmt.Sprintf("user%07d@elsewhere.example", i)
		if i < len(known) {
			email = known[i]
		}
		fmt.Fprintf(w, "%s,%s\n", email, []string{"engineering", "sales", "operations", "finance"}[i%4])
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	st, _ := f.Stat()
	_ = f.Close()
	return st.Size()
}

// BenchmarkCampaignOfAMillion imports a million-row CSV with the real
// `resetq campaign start` process, then lets a feeder and a worker run it
// for a while at 200/s against the emulator, and prints: the import's
// throughput and peak RSS, the feeder's throughput, Redis's peak memory
// beside what enqueueing every task at once costs, and the pace the IdP
// saw.
func BenchmarkCampaignOfAMillion(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "resetq")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/resetq").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	srv := redistest.Start(b)
	rdb, err := redisconn.Open(srv.URL(0), 50)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rdb.Close() })
	kc := keycloaktest.NewServer()
	b.Cleanup(kc.Close)
	kc.AddServiceAccount("corp", "resetq", "bench-secret")
	sample := kc.AddSampleUsers("corp", 20000)

	csv := filepath.Join(dir, "users.csv")
	size := writeUsers(b, csv, sample.Emails, campaignRows)
	cfg := filepath.Join(dir, "resetq.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`redis: {url: %q}
providers:
  - {name: corp, type: keycloak, base_url: %q, realm: corp, auth: {client_id: resetq, client_secret: bench-secret}}
`, srv.URL(0), kc.URL())), 0o600); err != nil {
		b.Fatal(err)
	}
	_, peak0 := usedMemory(b, rdb)

	// Import, as a security engineer would start it.
	cmd := exec.Command(bin, "campaign", "start", csv, "--config", cfg, "--provider", "corp",
		"--rate", fmt.Sprintf("%d/s", campaignRate), "--name", "million", "--detach")
	var outBuf strings.Builder
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// The child's own peak RSS, from /proc while it runs: the rusage of a
	// child started by Go counts the parent's peak too (it is cloned with
	// the parent's memory, and the kernel keeps that peak at exec).
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var rss int64
	for waiting := true; waiting; {
		if hwm := vmHWM(cmd.Process.Pid); hwm > rss {
			rss = hwm
		}
		select {
		case err := <-done:
			if err != nil {
				b.Fatalf("campaign start: %v\n%s", err, outBuf.String())
			}
			waiting = false
		case <-time.After(2 * time.Millisecond):
		}
	}
	importTime := time.Since(start)
	usedAfterImport, _ := usedMemory(b, rdb)

	// Feed: a feeder fills the window (20,000 tasks at 200/s) from the
	// stored rows; nothing consumes them yet.
	store := campaigns.NewStore(rdb)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	feeder := campaigns.NewManager(campaigns.Config{Redis: rdb, Providers: []campaigns.Provider{{Name: "corp", MaxRetries: 10}}}).
		NewFeeder(campaigns.FeederConfig{Interval: 50 * time.Millisecond})
	feedStart := time.Now()
	go feeder.Run(ctx)
	var window int
	for {
		c, err := store.Get(context.Background(), "million")
		if err != nil {
			b.Fatal(err)
		}
		window = c.Window
		if c.Inflight >= c.Window {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	feedTime := time.Since(feedStart)
	usedFull, _ := usedMemory(b, rdb)

	// Run it: a worker against the emulator at 200/s, for 15 seconds.
	kp, err := keycloak.New(keycloak.Config{BaseURL: kc.URL(), Realm: "corp", ClientID: "resetq", ClientSecret: "bench-secret"})
	if err != nil {
		b.Fatal(err)
	}
	w, err := worker.New(worker.Config{Redis: rdb, Concurrency: concurrency, PollInterval: pollInterval,
		Providers: []worker.Provider{{Name: "corp", IdP: kp}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	runFor := 15 * time.Second
	deadline := time.Now().Add(runFor)
	var maxUsed int64
	for time.Now().Before(deadline) {
		if u, _ := usedMemory(b, rdb); u > maxUsed {
			maxUsed = u
		}
		time.Sleep(250 * time.Millisecond)
	}
	w.Shutdown()
	cancel()
	_, peak := usedMemory(b, rdb)
	achieved, most := pace(resetTimes(kc))

	// What enqueueing every task at once would cost: the same tasks, 50,000
	// of them, in a fresh Redis, scaled to a million.
	perTask := enqueueAllCost(b, 50000)

	fmt.Printf("\ncampaign of %d rows (%.1f MB CSV), one redis-server, %d CPUs:\n", campaignRows, mb(size), runtime.NumCPU())
	fmt.Printf("  import (resetq campaign start, a process)  %6.1f s   %8.0f rows/s   peak RSS %.1f MB (target ≤ 64)\n",
		importTime.Seconds(), float64(campaignRows)/importTime.Seconds(), mb(rss))
	fmt.Printf("  feed (window of %d onto the queue)      %6.2f s   %8.0f rows/s\n", window, feedTime.Seconds(), float64(window)/feedTime.Seconds())
	fmt.Printf("  Redis used_memory: before %.1f MB, imported %.1f MB, window full %.1f MB, peak while running %.1f MB (target ≤ 64)\n",
		mb(peak0), mb(usedAfterImport), mb(usedFull), mb(max(peak, maxUsed)))
	fmt.Printf("  enqueueing all %d tasks at once instead: %d B per task measured → %.0f MB\n", campaignRows, perTask, mb(perTask*campaignRows))
	fmt.Printf("  pace at %d/s over %s: %.1f resets/s achieved (%.1f%% of the limit), at most %d in any one second (limit + burst %d)\n",
		campaignRate, runFor, achieved, 100*achieved/campaignRate, most, campaignRate+worker.Pace(campaignRate, time.Second).Burst)
	b.ReportMetric(float64(campaignRows)/importTime.Seconds(), "import-rows/s")
	b.ReportMetric(mb(rss), "import-rss-MB")
	b.ReportMetric(mb(max(peak, maxUsed)), "redis-peak-MB")
	b.ReportMetric(achieved, "resets/s")
}

// enqueueAllCost measures the Redis memory of one campaign task enqueued
// the ordinary way, from n of them.
func enqueueAllCost(b *testing.B, n int) int64 {
	b.Helper()
	srv := redistest.Start(b)
	rdb, err := redisconn.Open(srv.URL(0), 20)
	if err != nil {
		b.Fatal(err)
	}
	defer rdb.Close()
	pc, err := producer.NewClient(producer.Config{Redis: rdb, Providers: []producer.Provider{{Name: "corp", MaxRetries: 10}}})
	if err != nil {
		b.Fatal(err)
	}
	before, _ := usedMemory(b, rdb)
	for i := range n {
		u := tasks.User{Email: fmt.Sprintf("user%07d@example.com", i)}
		if _, err := pc.Enqueue(context.Background(), producer.Request{Provider: "corp", User: u,
			IdempotencyKey: "million/" + u.Email, Meta: map[string]string{"department": "engineering"}}); err != nil {
			b.Fatal(err)
		}
	}
	after, _ := usedMemory(b, rdb)
	return (after - before) / int64(n)
}
