package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
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
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/audit"
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
	// audit is the trail the workers keep every outcome in, as deployed;
	// nil measures a worker without one.
	audit *audit.Trail
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
	if e.audit, err = audit.New(audit.Config{Redis: rdb}); err != nil {
		b.Fatal(err)
	}
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

func (w *stopwatch) stop() run { return w.stopAfter(tasksPerRun) }

// stopAfter is the run of n tasks since the stopwatch started.
func (w *stopwatch) stopAfter(n int) run {
	elapsed := time.Since(w.start)
	self, redis := cpu(w.e.redis.Pid())
	return run{perSecond: float64(n) / elapsed.Seconds(),
		goCPU: (self - w.self0) / time.Duration(n), redisCPU: (redis - w.redis0) / time.Duration(n)}
}

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

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
	payload := []byte(`{"v":1,"provider":"corp","user":{"email":"user0001@example.com"},"actions":["UPDATE_PASSWORD"],"campaign":"","idempotency_key":"","meta":{},"requested_at":"2026-11-22T10:00:00Z"}`)
	return e.drainAsynq(b, fmt.Sprintf("bench-noop-%d", round), func(int) []byte { return payload },
		func(context.Context, *asynq.Task) error { return nil })
}

// drainAsynq enqueues tasksPerRun tasks on queue q, then drains them with
// a plain Asynq server running handle at the benchmark's concurrency.
func (e *env) drainAsynq(b *testing.B, q string, payload func(i int) []byte, handle asynq.HandlerFunc) run {
	b.Helper()
	c := asynq.NewClientFromRedisClient(e.rdb)
	for i := range tasksPerRun {
		if _, err := c.Enqueue(asynq.NewTask("bench", payload(i)), asynq.Queue(q), asynq.TaskID(tasks.RandomTaskID())); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	done := make(chan struct{})
	srv := asynq.NewServerFromRedisClient(e.rdb, asynq.Config{Concurrency: concurrency, Queues: map[string]int{q: 1},
		TaskCheckInterval: pollInterval, LogLevel: asynq.ErrorLevel})
	w := e.startWatch()
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		if err := handle(ctx, t); err != nil {
			return err
		}
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
	return e.drainResetqNamed(b, fmt.Sprintf("corp%d", round), byID)
}

// drainResetqWithoutAudit is drainResetq by id with a worker that keeps no
// audit trail: what the trail costs shows beside it.
func (e *env) drainResetqWithoutAudit(b *testing.B, round int) run {
	b.Helper()
	trail := e.audit
	e.audit = nil
	defer func() { e.audit = trail }()
	return e.drainResetqNamed(b, fmt.Sprintf("corp%d-noaudit", round), true)
}

func (e *env) drainResetqNamed(b *testing.B, name string, byID bool) run {
	b.Helper()
	users := make([]tasks.User, tasksPerRun)
	for i := range users {
		users[i] = tasks.User{Email: e.users.Emails[i%len(e.users.Emails)]}
		if byID {
			users[i] = tasks.User{ID: e.ids[i%len(e.ids)]}
		}
	}
	if byID {
		name += "-id"
	}
	var r run
	e.drain(b, worker.Provider{Name: name}, concurrency, users, func(w *stopwatch) { r = w.stop() })
	return r
}

// drain enqueues a reset for each user on the provider's queue, then runs
// the real worker (metrics and JSON logs on) against the emulator until
// every one has succeeded. done gets a stopwatch started just before the
// worker, once the last outcome is in.
func (e *env) drain(b *testing.B, p worker.Provider, conc int, users []tasks.User, done func(*stopwatch)) {
	b.Helper()
	kcfg := keycloak.Config{BaseURL: e.kc.URL(), Realm: "corp", ClientID: "resetq", ClientSecret: "bench-secret"}
	if failed := e.drainWith(b, p, kcfg, conc, users, time.Millisecond, done); failed > 0 {
		b.Fatalf("%s: %d of %d resets did not succeed", p.Name, failed, len(users))
	}
}

// drainWith is drain against the Keycloak kcfg names, looking at the
// counter every poll; it returns how many resets ended other than
// succeeded.
func (e *env) drainWith(b *testing.B, p worker.Provider, kcfg keycloak.Config, conc int, users []tasks.User,
	poll time.Duration, done func(*stopwatch)) (failed int) {
	b.Helper()
	pc, err := producer.NewClient(producer.Config{Redis: e.rdb, Providers: []producer.Provider{{Name: p.Name, MaxRetries: 10}}})
	if err != nil {
		b.Fatal(err)
	}
	for _, u := range users {
		if _, err := pc.Enqueue(context.Background(), producer.Request{Provider: p.Name, User: u}); err != nil {
			b.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	kcfg.HTTPClient = m.HTTPClient(p.Name, conc)
	kp, err := keycloak.New(kcfg)
	if err != nil {
		b.Fatal(err)
	}
	p.IdP = kp
	wk, err := worker.New(worker.Config{Redis: e.rdb, Concurrency: conc, PollInterval: pollInterval,
		Metrics: m, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Providers: []worker.Provider{p}, Audit: e.audit})
	if err != nil {
		b.Fatal(err)
	}
	w := e.startWatch()
	if err := wk.Start(); err != nil {
		b.Fatal(err)
	}
	// Watch the one counter every poll (gathering the registry that often
	// would cost the worker a tenth of its CPU), and everything every
	// hundredth, so a reset that did not succeed ends the wait too.
	succeeded := m.Resets.WithLabelValues(p.Name, string(tasks.Succeeded), "")
	for i := 0; testutil.ToFloat64(succeeded) < float64(len(users)); i++ {
		if i%100 == 99 && finished(reg, p.Name) >= float64(len(users)) {
			break
		}
		time.Sleep(poll)
	}
	done(w)
	wk.Shutdown()
	return len(users) - int(testutil.ToFloat64(succeeded))
}

// drainBare measures the least any reset pipeline on Asynq must do per
// task, written by hand with nothing else: read the task's done-marker,
// send the reset with a token fetched once, write the marker. Against it,
// the rest of resetq's pipeline — decoding, classification, retries, rate
// limit and halt checks, metrics, logs — shows on its own.
func (e *env) drainBare(b *testing.B, round int) run {
	b.Helper()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}}
	token := e.token(b, hc)
	payload := func(i int) []byte {
		return []byte(fmt.Sprintf(`{"v":1,"provider":"corp","user":{"id":%q},"actions":["UPDATE_PASSWORD"],"campaign":"","idempotency_key":"","meta":{},"requested_at":"2026-11-22T10:00:00Z"}`,
			e.ids[i%len(e.ids)]))
	}
	return e.drainAsynq(b, fmt.Sprintf("bench-bare-%d", round), payload, func(ctx context.Context, t *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		if err := e.rdb.Get(ctx, "bare:"+id).Err(); !errors.Is(err, redis.Nil) {
			return fmt.Errorf("a fresh task has a done-marker, or Redis failed: %v", err)
		}
		var p struct {
			User struct{ ID string } `json:"user"`
		}
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return err
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut,
			e.kc.URL()+"/admin/realms/corp/users/"+p.User.ID+"/execute-actions-email", strings.NewReader(`["UPDATE_PASSWORD"]`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			return fmt.Errorf("execute-actions-email: %s", res.Status)
		}
		return e.rdb.Set(ctx, "bare:"+id, `{"outcome":"succeeded"}`, time.Hour).Err()
	})
}

// token fetches an admin token the way a script would.
func (e *env) token(b *testing.B, hc *http.Client) string {
	return clientToken(b, hc, e.kc.URL(), "corp", "bench-secret")
}

// clientToken fetches a token with resetq's client credentials from a realm.
func clientToken(b *testing.B, hc *http.Client, baseURL, realm, secret string) string {
	b.Helper()
	res, err := hc.PostForm(baseURL+"/realms/"+realm+"/protocol/openid-connect/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"resetq"}, "client_secret": {secret}})
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := decodeJSON(res.Body, &tok); err != nil || tok.AccessToken == "" {
		b.Fatalf("token: %s %v", res.Status, err)
	}
	return tok.AccessToken
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
	var noop, bare, byID, email, noAudit []run
	tokens0 := e.kc.TokenRequests()
	for r := range rounds {
		noop = append(noop, e.drainNoop(b, r))
		bare = append(bare, e.drainBare(b, r))
		// With and without the audit trail back to back, in turn first,
		// so that neither gains from its place in the round.
		if r%2 == 0 {
			byID = append(byID, e.drainResetq(b, r, true))
			noAudit = append(noAudit, e.drainResetqWithoutAudit(b, r))
		} else {
			noAudit = append(noAudit, e.drainResetqWithoutAudit(b, r))
			byID = append(byID, e.drainResetq(b, r, true))
		}
		email = append(email, e.drainResetq(b, r, false))
	}
	n, br, id, em, na := median(noop), median(bare), median(byID), median(email), median(noAudit)
	out := os.Stdout
	fmt.Fprintf(out, "\npipeline overhead: %d pre-enqueued tasks per run, concurrency %d, median of %d rounds,\n"+
		"one redis-server, worker and emulator (no added latency) in this process, %d CPUs\n", tasksPerRun, concurrency, rounds, runtime.NumCPU())
	fmt.Fprintf(out, "  %-44s %8s %9s %9s   %s\n", "", "tasks/s", "vs no-op", "vs bare", "CPU per task: this process / redis-server")
	for _, row := range []struct {
		name string
		r    run
	}{{"asynq no-op handler (the ceiling)", n}, {"bare: marker GET, PUT, marker SET by hand", br},
		{"resetq, user by id (PUT)", id}, {"resetq, user by email (lookup + PUT)", em},
		{"resetq, user by id, no audit trail", na}} {
		fmt.Fprintf(out, "  %-44s %8.0f %9.2f %9.2f   %4dµs / %3dµs\n", row.name, row.r.perSecond, row.r.perSecond/n.perSecond,
			row.r.perSecond/br.perSecond, row.r.goCPU.Microseconds(), row.r.redisCPU.Microseconds())
	}
	resets := 3 * rounds * tasksPerRun
	workers := 3 * rounds // every resetq run is a worker started afresh
	fmt.Fprintf(out, "  token requests: %d for %d resets by %d worker starts (%.1f per 10,000 resets; 300 s tokens)\n",
		e.kc.TokenRequests()-tokens0-rounds, resets, workers, float64(e.kc.TokenRequests()-tokens0-rounds)/float64(resets)*10000)
	b.ReportMetric(n.perSecond, "noop-tasks/s")
	b.ReportMetric(br.perSecond, "bare-tasks/s")
	b.ReportMetric(id.perSecond, "id-tasks/s")
	b.ReportMetric(em.perSecond, "email-tasks/s")
	b.ReportMetric(id.perSecond/n.perSecond, "ratio-id")
	b.ReportMetric(id.perSecond/br.perSecond, "ratio-id-vs-bare")
	b.ReportMetric(id.perSecond/na.perSecond, "ratio-audit")
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
