package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/metrics"
	"github.com/resetq/resetq/internal/redisconn"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/worker"
)

const (
	tasksPerRun  = 10000
	concurrency  = 20
	pollInterval = 50 * time.Millisecond
	rounds       = 3
)

type env struct {
	redis *redistest.Server
	rdb   redis.UniversalClient
	kc    *keycloaktest.Server
	users keycloaktest.Sample
	ids   []string
}

func newEnv(b *testing.B) *env {
	b.Helper()
	e := &env{redis: redistest.Start(b)}
	rdb, err := redisconn.Open(e.redis.URL(0), concurrency+10)
	if err != nil {
		b.Fatal(err)
	}
	e.rdb = rdb
	b.Cleanup(func() { _ = e.rdb.Close() })
	e.kc = keycloaktest.NewServer()
	b.Cleanup(e.kc.Close)
	e.kc.AddServiceAccount("corp", "resetq", "bench-secret")
	e.users = e.kc.AddSampleUsers("corp", 2000)
	for _, m := range e.users.Emails {
		e.ids = append(e.ids, e.kc.UserID("corp", m[:len("user0000")]))
	}
	return e
}

// run is one drain: its throughput and the CPU it cost per task, in this
// process (worker and emulator) and in redis-server.
type run struct {
	perSecond       float64
	goCPU, redisCPU time.Duration
}

type stopwatch struct {
	e             *env
	start         time.Time
	self0, redis0 time.Duration
}

func (e *env) startWatch() *stopwatch {
	w := &stopwatch{e: e, start: time.Now()}
	w.self0, w.redis0 = cpu(e.redis.Pid())
	return w
}

func (w *stopwatch) stop() run {
	elapsed := time.Since(w.start)
	self, redis := cpu(w.e.redis.Pid())
	return run{perSecond: tasksPerRun / elapsed.Seconds(),
		goCPU: (self - w.self0) / tasksPerRun, redisCPU: (redis - w.redis0) / tasksPerRun}
}

// cpu returns the CPU time used so far by this process and by redis-server.
func cpu(redisPid int) (self, redis time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", redisPid)); err == nil {
		// Fields after the command name; utime and stime are the 12th and 13th.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		u, _ := strconv.Atoi(f[11])
		s, _ := strconv.Atoi(f[12])
		redis = time.Duration(u+s) * time.Second / 100 // USER_HZ
	}
	return self, redis
}

// drainNoop measures Asynq alone: tasksPerRun pre-enqueued tasks with a
// payload like resetq's, drained by a handler that does nothing.
func (e *env) drainNoop(b *testing.B, round int) run {
	b.Helper()
	q := fmt.Sprintf("bench-noop-%d", round)
	c := asynq.NewClientFromRedisClient(e.rdb)
	payload := []byte(`{"v":1,"provider":"corp","user":{"email":"user0001@example.com"},"actions":["UPDATE_PASSWORD"],"campaign":"","idempotency_key":"","meta":{},"requested_at":"2026-11-22T10:00:00Z"}`)
	for range tasksPerRun {
		if _, err := c.Enqueue(asynq.NewTask("noop", payload), asynq.Queue(q), asynq.TaskID(tasks.RandomTaskID())); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	done := make(chan struct{})
	srv := asynq.NewServerFromRedisClient(e.rdb, asynq.Config{Concurrency: concurrency, Queues: map[string]int{q: 1},
		TaskCheckInterval: pollInterval, LogLevel: asynq.ErrorLevel})
	w := e.startWatch()
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		if n.Add(1) == tasksPerRun {
			close(done)
		}
		return nil
	})); err != nil {
		b.Fatal(err)
	}
	<-done
	r := w.stop()
	srv.Shutdown()
	return r
}

// drainResetq measures resetq: the same number of pre-enqueued resets,
// drained by the real worker (metrics and JSON logs on) against the
// emulator with no added latency.
func (e *env) drainResetq(b *testing.B, round int, byID bool) run {
	b.Helper()
	name := fmt.Sprintf("corp%d", round)
	if byID {
		name += "-id"
	}
	pc, err := producer.NewClient(producer.Config{Redis: e.rdb, Providers: []producer.Provider{{Name: name, MaxRetries: 10}}})
	if err != nil {
		b.Fatal(err)
	}
	for i := range tasksPerRun {
		u := tasks.User{Email: e.users.Emails[i%len(e.users.Emails)]}
		if byID {
			u = tasks.User{ID: e.ids[i%len(e.ids)]}
		}
		if _, err := pc.Enqueue(context.Background(), producer.Request{Provider: name, User: u}); err != nil {
			b.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	kp, err := keycloak.New(keycloak.Config{BaseURL: e.kc.URL(), Realm: "corp", ClientID: "resetq", ClientSecret: "bench-secret",
		HTTPClient: m.HTTPClient(name, concurrency)})
	if err != nil {
		b.Fatal(err)
	}
	wk, err := worker.New(worker.Config{Redis: e.rdb, Concurrency: concurrency, PollInterval: pollInterval,
		Metrics: m, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Providers: []worker.Provider{{Name: name, IdP: kp}}})
	if err != nil {
		b.Fatal(err)
	}
	w := e.startWatch()
	if err := wk.Start(); err != nil {
		b.Fatal(err)
	}
	for finished(reg, name) < tasksPerRun {
		time.Sleep(time.Millisecond)
	}
	r := w.stop()
	wk.Shutdown()
	return r
}

func finished(g prometheus.Gatherer, provider string) float64 {
	mfs, _ := g.Gather()
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "resetq_resets_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "provider" && l.GetValue() == provider {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

// BenchmarkPipelineOverhead prints resetq's throughput beside Asynq's no-op
// ceiling, measured in the same run on the same redis-server with the same
// concurrency, their ratio, and the CPU each task cost.
func BenchmarkPipelineOverhead(b *testing.B) {
	e := newEnv(b)
	var noop, byID, email []run
	for r := range rounds {
		noop = append(noop, e.drainNoop(b, r))
		byID = append(byID, e.drainResetq(b, r, true))
		email = append(email, e.drainResetq(b, r, false))
	}
	n, id, em := median(noop), median(byID), median(email)
	out := os.Stdout
	fmt.Fprintf(out, "\npipeline overhead: %d pre-enqueued tasks per run, concurrency %d, median of %d rounds,\n"+
		"one redis-server, worker and emulator in this process, %d CPUs\n", tasksPerRun, concurrency, rounds, runtime.NumCPU())
	fmt.Fprintf(out, "  %-38s %8s %6s   %s\n", "", "tasks/s", "ratio", "CPU per task: this process / redis-server")
	for _, row := range []struct {
		name string
		r    run
	}{{"asynq no-op handler", n}, {"resetq, user by id (PUT)", id}, {"resetq, user by email (lookup + PUT)", em}} {
		fmt.Fprintf(out, "  %-38s %8.0f %6.2f   %4dµs / %3dµs\n", row.name, row.r.perSecond, row.r.perSecond/n.perSecond,
			row.r.goCPU.Microseconds(), row.r.redisCPU.Microseconds())
	}
	fmt.Fprintf(out, "  emulator: %d emails sent with %d token requests\n", e.kc.TotalResets(), e.kc.TokenRequests())
	b.ReportMetric(n.perSecond, "noop-tasks/s")
	b.ReportMetric(id.perSecond, "id-tasks/s")
	b.ReportMetric(em.perSecond, "email-tasks/s")
	b.ReportMetric(id.perSecond/n.perSecond, "ratio-id")
	b.ReportMetric(em.perSecond/n.perSecond, "ratio-email")
}

// BenchmarkIdlePickup prints how long an idle worker takes to pick up a
// task: from Enqueue returning to the IdP seeing the reset.
func BenchmarkIdlePickup(b *testing.B) {
	e := newEnv(b)
	const samples = 200
	pc, err := producer.NewClient(producer.Config{Redis: e.rdb, Providers: []producer.Provider{{Name: "idle", MaxRetries: 10}}})
	if err != nil {
		b.Fatal(err)
	}
	kp, err := keycloak.New(keycloak.Config{BaseURL: e.kc.URL(), Realm: "corp", ClientID: "resetq", ClientSecret: "bench-secret"})
	if err != nil {
		b.Fatal(err)
	}
	w, err := worker.New(worker.Config{Redis: e.rdb, Concurrency: concurrency, PollInterval: pollInterval,
		Providers: []worker.Provider{{Name: "idle", IdP: kp}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer w.Shutdown()
	var lat []time.Duration
	for i := range samples {
		before := len(e.kc.RequestsTo(keycloaktest.EndpointExecuteActions))
		start := time.Now()
		res, err := pc.Enqueue(context.Background(), producer.Request{Provider: "idle", User: tasks.User{ID: e.ids[i]}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := pc.Wait(ctx, res.TaskID); err != nil {
			b.Fatal(err)
		}
		cancel()
		seen := e.kc.RequestsTo(keycloaktest.EndpointExecuteActions)[before].Time
		lat = append(lat, seen.Sub(start))
		// Land the next enqueue at another phase of the poll loop.
		time.Sleep(time.Duration(i%17) * 3 * time.Millisecond)
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	fmt.Fprintf(os.Stdout, "\nidle pickup latency (Enqueue returns → the IdP receives the reset), %d samples, poll_interval %s:\n",
		samples, pollInterval)
	fmt.Fprintf(os.Stdout, "  p50 %s   p99 %s   max %s\n", p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond),
		lat[len(lat)-1].Round(100*time.Microsecond))
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
}

func median(v []run) run {
	s := slices.Clone(v)
	slices.SortFunc(s, func(a, b run) int {
		switch {
		case a.perSecond < b.perSecond:
			return -1
		case a.perSecond > b.perSecond:
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}
