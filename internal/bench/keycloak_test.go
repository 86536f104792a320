package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/internal/realidp"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/worker"
)

// Against the real Keycloak (26.7.3, started here or by make bench's
// devstack) sending through a real Mailpit: what Keycloak and Mailpit can
// do on this machine, and how close resetq's whole pipeline comes to it.

const (
	realResets = 400 // per run, per side
	realRounds = 5   // the order of the sides alternates
	// Keycloak's JIT takes thousands of requests to settle: the warm-up
	// goes on until two runs in a row keep the same pace (within 5 %).
	realWarmUpMax = 16
	bulkUsers     = 100_000
)

func TestMain(m *testing.M) { realidp.Main(m) }

// kcBench is a realm on the real Keycloak that mails Mailpit directly.
type kcBench struct {
	*env
	realm *realidp.Realm
	hc    *http.Client
	ids   []string // of the realm's 300 plain users
	// conc is the concurrency of both sides (default the benchmark's).
	conc int
}

func newKCBench(b *testing.B) *kcBench {
	b.Helper()
	r := realidp.NewTestRealm(b, realidp.TestKeycloak(b))
	r.SendMailTo(b, r.Mail.SMTPHost(), r.Mail.SMTPPort())
	k := &kcBench{env: newEnv(b), realm: r, conc: concurrency,
		hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}, Timeout: time.Minute}}
	for i := 1; i <= 300; i++ {
		k.ids = append(k.ids, r.UserID(b, fmt.Sprintf("user%03d", i)))
	}
	return k
}

func (k *kcBench) token(b *testing.B) string {
	return clientToken(b, k.hc, k.realm.KC.URL(), k.realm.Name, realidp.E2EClientSecret)
}

// ceiling sends n execute-actions emails from conc goroutines as fast as
// Keycloak answers, with one token and nothing else: Keycloak's and
// Mailpit's own ceiling. byEmail looks each user up first, as resetq does
// for an email.
func (k *kcBench) ceiling(b *testing.B, n int, byEmail bool) (perSecond float64, errs int) {
	b.Helper()
	token := k.token(b)
	admin := k.realm.KC.URL() + "/admin/realms/" + k.realm.Name
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range k.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				id := k.ids[int(i)%len(k.ids)]
				if byEmail {
					email := fmt.Sprintf("user%03d@example.org", int(i)%len(k.ids)+1)
					q := url.Values{"email": {email}, "exact": {"true"}, "briefRepresentation": {"true"}, "max": {"2"}}
					var users []struct{ ID string }
					if k.call(http.MethodGet, admin+"/users?"+q.Encode(), token, nil, http.StatusOK, &users) != nil || len(users) != 1 {
						failed.Add(1)
						continue
					}
					id = users[0].ID
				}
				if k.call(http.MethodPut, admin+"/users/"+id+"/execute-actions-email", token,
					strings.NewReader(`["UPDATE_PASSWORD"]`), http.StatusNoContent, nil) != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds(), int(failed.Load())
}

// machineBusy returns a func that reports how busy the machine's CPUs
// were, from 0 to 1, since machineBusy was called (/proc/stat).
func machineBusy() func() float64 {
	read := func() (busy, total float64) {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0
		}
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]) // cpu user nice system idle iowait irq softirq steal
		for i, v := range f[1:] {
			n, _ := strconv.ParseFloat(v, 64)
			total += n
			if i != 3 && i != 4 {
				busy += n
			}
		}
		return busy, total
	}
	b0, t0 := read()
	return func() float64 {
		b1, t1 := read()
		if t1 == t0 {
			return 0
		}
		return (b1 - b0) / (t1 - t0)
	}
}

func (k *kcBench) call(method, u, token string, body io.Reader, want int, out any) error {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := k.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		_, _ = io.Copy(io.Discard, res.Body)
		return fmt.Errorf("%s", res.Status)
	}
	if out != nil {
		return decodeJSON(res.Body, out)
	}
	_, err = io.Copy(io.Discard, res.Body)
	return err
}

// resetq drains n pre-enqueued resets through the real worker against the
// realm, and returns its throughput and how many did not succeed.
func (k *kcBench) resetq(b *testing.B, name string, n int, byEmail bool) (perSecond float64, errs int) {
	perSecond, errs, _ = k.resetqCPU(b, name, n, byEmail)
	return perSecond, errs
}

// resetqCPU is resetq, and the CPU each reset cost resetq's worker and
// redis-server.
func (k *kcBench) resetqCPU(b *testing.B, name string, n int, byEmail bool) (perSecond float64, errs int, cpu time.Duration) {
	b.Helper()
	users := make([]tasks.User, n)
	for i := range users {
		users[i] = tasks.User{ID: k.ids[i%len(k.ids)]}
		if byEmail {
			users[i] = tasks.User{Email: fmt.Sprintf("user%03d@example.org", i%len(k.ids)+1)}
		}
	}
	return k.resetqUsers(b, name, users)
}

// resetqUsers is resetqCPU for the given users.
func (k *kcBench) resetqUsers(b *testing.B, name string, users []tasks.User) (perSecond float64, errs int, cpu time.Duration) {
	b.Helper()
	n := len(users)
	kcfg := keycloak.Config{BaseURL: k.realm.KC.URL(), Realm: k.realm.Name, ClientID: "resetq", ClientSecret: realidp.E2EClientSecret}
	var r run
	// The pace is read at the sink: a coarse look at the counter is enough,
	// and leaves the CPUs to Keycloak.
	failed := k.drainWith(b, worker.Provider{Name: name}, kcfg, k.conc, users, 50*time.Millisecond,
		func(w *stopwatch) { r = w.stopAfter(n) })
	return r.perSecond, failed, r.goCPU + r.redisCPU
}

// warmUp sends resets until Keycloak's pace settles.
func (k *kcBench) warmUp(b *testing.B) {
	b.Helper()
	var last float64
	for i := range realWarmUpMax {
		v, _ := k.ceiling(b, realResets, i%2 == 1)
		if i%2 == 1 { // compare like with like: by id, then by email
			continue
		}
		if last > 0 && v > 0.95*last && v < 1.05*last {
			return
		}
		last = v
	}
}

// atTheSink runs send, which sends n mails, and returns the pace at which
// they reached Mailpit, from the first to the last (so a worker's start-up
// counts no more than the loop's token request does), and how many of the
// n did not arrive or did not succeed.
func (k *kcBench) atTheSink(b *testing.B, n int, send func() (perSecond float64, errs int)) (perSecond float64, errs int) {
	b.Helper()
	ctx := context.Background()
	if err := k.realm.Mail.DeleteAll(ctx); err != nil {
		b.Fatal(err)
	}
	_, errs = send()
	msgs, err := k.realm.Mail.Messages(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if len(msgs) < 2 {
		b.Fatalf("%d mails reached Mailpit", len(msgs))
	}
	first, last := msgs[0].Created, msgs[0].Created
	for _, m := range msgs {
		if m.Created.Before(first) {
			first = m.Created
		}
		if m.Created.After(last) {
			last = m.Created
		}
	}
	return float64(len(msgs)-1) / last.Sub(first).Seconds(), errs + abs(n-len(msgs))
}

func abs(n int) int { return max(n, -n) }

// BenchmarkAgainstTheRealKeycloak prints Keycloak's and Mailpit's own
// ceiling for execute-actions-email beside resetq's throughput through its
// whole pipeline, side by side in one run, at the same concurrency, both
// measured where the mail arrives.
func BenchmarkAgainstTheRealKeycloak(b *testing.B) {
	k := newKCBench(b)
	k.warmUp(b)
	var ceil, rq, ceilEmail, rqEmail, ceil4, rq4, busy, busy1 []float64
	var cpus, loopCPU []time.Duration
	errs := 0
	sink := func(dst *[]float64, send func() (float64, int)) {
		n := realResets
		if k.conc == 1 {
			n = realResets / 4
		}
		v, e := k.atTheSink(b, n, send)
		*dst, errs = append(*dst, v), errs+e
	}
	for r := range realRounds {
		runs := []func(){
			func() {
				sink(&ceil, func() (float64, int) {
					used := machineBusy()
					w := k.startWatch()
					v, e := k.ceiling(b, realResets, false)
					loopCPU = append(loopCPU, w.stopAfter(realResets).goCPU)
					busy = append(busy, used())
					return v, e
				})
			},
			func() {
				sink(&rq, func() (float64, int) {
					q, e, c := k.resetqCPU(b, fmt.Sprintf("real%d", r), realResets, false)
					cpus = append(cpus, c)
					return q, e
				})
			},
			func() { sink(&ceilEmail, func() (float64, int) { return k.ceiling(b, realResets, true) }) },
			func() {
				sink(&rqEmail, func() (float64, int) { return k.resetq(b, fmt.Sprintf("real%d-email", r), realResets, true) })
			},
			// One reset at a time, every wait the pipeline adds between two
			// resets would show in full (its bookkeeping overlaps the reset
			// at the IdP instead).
			func() {
				k.conc = 1
				defer func() { k.conc = concurrency }()
				sink(&ceil4, func() (float64, int) {
					used := machineBusy()
					v, e := k.ceiling(b, realResets/4, false)
					busy1 = append(busy1, used())
					return v, e
				})
			},
			func() {
				k.conc = 1
				defer func() { k.conc = concurrency }()
				sink(&rq4, func() (float64, int) { return k.resetq(b, fmt.Sprintf("real%d-c1", r), realResets/4, false) })
			},
		}
		if r%2 == 1 { // every other round resetq goes first
			runs[0], runs[1], runs[2], runs[3], runs[4], runs[5] = runs[1], runs[0], runs[3], runs[2], runs[5], runs[4]
		}
		for _, run := range runs {
			run()
		}
	}
	ratio, ratioEmail := medianRatio(rq, ceil), medianRatio(rqEmail, ceilEmail)
	out := os.Stdout
	fmt.Fprintf(out, "\nagainst the real Keycloak %s and Mailpit %s: %d resets per run, concurrency %d, %d rounds, %d CPUs;\n"+
		"throughput measured where the mail lands (Mailpit's receive times, first to last)\n",
		realidp.KeycloakVersion, realidp.MailpitVersion, realResets, concurrency, realRounds, runtime.NumCPU())
	fmt.Fprintf(out, "  %-52s %s\n", "", "mails/s in each round")
	fmt.Fprintf(out, "  %-52s %s\n", "ceiling: a tight loop, execute-actions-email by id", floats(ceil))
	fmt.Fprintf(out, "  %-52s %s\n", "resetq: the whole pipeline, user by id", floats(rq))
	fmt.Fprintf(out, "  %-52s %s\n", "ceiling: lookup by email, then execute-actions-email", floats(ceilEmail))
	fmt.Fprintf(out, "  %-52s %s\n", "resetq: the whole pipeline, user by email", floats(rqEmail))
	fmt.Fprintf(out, "  %-52s %s\n", "ceiling one at a time, by id", floats(ceil4))
	fmt.Fprintf(out, "  %-52s %s\n", "resetq at concurrency 1, by id", floats(rq4))
	slices.Sort(cpus)
	slices.Sort(loopCPU)
	slices.Sort(busy)
	// When the loop keeps the CPUs busy, Keycloak and Mailpit are bound by
	// them: each reset costs them the CPUs' time over the pace, less what
	// the loop itself spent, and every millisecond resetq spends per reset
	// comes out of it.
	c := slices.Sorted(slices.Values(ceil))[len(ceil)/2]
	kcCost := busy[len(busy)/2]*float64(runtime.NumCPU())/c - loopCPU[len(loopCPU)/2].Seconds()
	rqCost := cpus[len(cpus)/2].Seconds()
	ratio4 := medianRatio(rq4, ceil4)
	slices.Sort(busy1)
	fmt.Fprintf(out, "  resetq ÷ ceiling (median of the rounds' ratios): by id %.3f, by email %.3f, one at a time %.3f\n"+
		"  (the CPUs %.0f %% busy then); errors (not succeeded, or mails missing or extra) %d\n",
		ratio, ratioEmail, ratio4, 100*busy1[len(busy1)/2], errs)
	room := (kcCost + loopCPU[len(loopCPU)/2].Seconds()) / (kcCost + rqCost)
	rest := "resetq reaches what the CPUs leave: its pipeline adds no wait of its own"
	if ratio < room-0.02 {
		rest = fmt.Sprintf("the pipeline's own waits account for the other %.3f", room-ratio)
	}
	fmt.Fprintf(out, "  the CPUs were %.0f %% busy during the loop: Keycloak and Mailpit are bound by them here, at %.1f ms of CPU\n"+
		"  per reset; resetq's worker and redis-server take %.2f ms per reset of the same CPUs (the loop %.2f ms), which\n"+
		"  leaves room for %.3f of the ceiling on this machine; %s\n",
		100*busy[len(busy)/2], 1000*kcCost, 1000*rqCost, 1000*loopCPU[len(loopCPU)/2].Seconds(), room, rest)
	b.ReportMetric(ratio, "real-ratio-id")
	b.ReportMetric(ratio4, "real-ratio-c1")
	b.ReportMetric(1000*rqCost, "real-resetq-cpu-ms")
	b.ReportMetric(room, "real-cpu-room")
	b.ReportMetric(ratioEmail, "real-ratio-email")
	b.ReportMetric(float64(errs), "real-errors")
	b.ReportMetric(slices.Max(ceil), "real-ceiling/s")
}

// BenchmarkLookupAmongAHundredThousandUsers prints what the user search
// resetq makes for an email costs in a realm of 100,000 users, alone and at
// resetq's default concurrency, against its default timeout.
func BenchmarkLookupAmongAHundredThousandUsers(b *testing.B) {
	k := newKCBench(b)
	start := time.Now()
	users := make([]map[string]any, bulkUsers)
	for i := range users {
		name := fmt.Sprintf("bulk%06d", i)
		users[i] = map[string]any{"username": name, "email": name + "@example.org", "firstName": "Bulk",
			"lastName": name, "enabled": true, "emailVerified": true}
	}
	if err := k.realm.KC.AddUsers(context.Background(), k.realm.Name, users); err != nil {
		b.Fatal(err)
	}
	imported := time.Since(start)
	token := k.token(b)
	admin := k.realm.KC.URL() + "/admin/realms/" + k.realm.Name
	lookup := func(i int) (time.Duration, error) {
		q := url.Values{"email": {fmt.Sprintf("bulk%06d@example.org", (i*7919)%bulkUsers)}, "exact": {"true"},
			"briefRepresentation": {"true"}, "max": {"2"}}
		var found []struct{ ID string }
		t := time.Now()
		err := k.call(http.MethodGet, admin+"/users?"+q.Encode(), token, nil, http.StatusOK, &found)
		if err == nil && len(found) != 1 {
			err = fmt.Errorf("found %d users", len(found))
		}
		return time.Since(t), err
	}
	measure := func(n, conc int) (lat []time.Duration, perSecond float64, errs int) {
		var mu sync.Mutex
		var next atomic.Int64
		var wg sync.WaitGroup
		t := time.Now()
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)); i <= n; i = int(next.Add(1)) {
					d, err := lookup(i)
					mu.Lock()
					lat = append(lat, d)
					if err != nil {
						errs++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		slices.Sort(lat)
		return lat, float64(n) / time.Since(t).Seconds(), errs
	}
	measure(50, 1) // warm up
	alone, _, e1 := measure(300, 1)
	loaded, perSecond, e2 := measure(2000, concurrency)
	bulk := make([]tasks.User, realResets)
	for i := range bulk {
		bulk[i] = tasks.User{Email: fmt.Sprintf("bulk%06d@example.org", (i*104729)%bulkUsers)}
	}
	qr, qerrs, _ := k.resetqUsers(b, "bulk", bulk)
	pct := func(lat []time.Duration, p int) time.Duration {
		return lat[(len(lat)-1)*p/100].Round(100 * time.Microsecond)
	}
	out := os.Stdout
	fmt.Fprintf(out, "\nlookup by email=…&exact=true among %d users (imported in %s), Keycloak %s:\n",
		bulkUsers, imported.Round(time.Second), realidp.KeycloakVersion)
	fmt.Fprintf(out, "  one at a time:        p50 %s  p99 %s  max %s\n", pct(alone, 50), pct(alone, 99), pct(alone, 100))
	fmt.Fprintf(out, "  %d at once:           p50 %s  p99 %s  max %s  (%.0f lookups/s)\n", concurrency,
		pct(loaded, 50), pct(loaded, 99), pct(loaded, 100), perSecond)
	fmt.Fprintf(out, "  resetq, %d of these users by email: %.0f resets/s, %d not succeeded; lookup errors %d\n",
		realResets, qr, qerrs, e1+e2)
	fmt.Fprintf(out, "  resetq's default timeout (%s) is %.0f× the worst lookup at concurrency %d\n",
		30*time.Second, (30*time.Second).Seconds()/pct(loaded, 100).Seconds(), concurrency)
	b.ReportMetric(float64(pct(alone, 50).Microseconds())/1000, "lookup-p50-ms")
	b.ReportMetric(float64(pct(loaded, 99).Microseconds())/1000, "lookup-loaded-p99-ms")
	b.ReportMetric(perSecond, "lookups/s")
	b.ReportMetric(qr, "bulk-resets/s")
}

func medianRatio(a, b []float64) float64 {
	var r []float64
	for i := range a {
		r = append(r, a[i]/b[i])
	}
	slices.Sort(r)
	return r[len(r)/2]
}

func floats(v []float64) string {
	var s []string
	for _, f := range v {
		s = append(s, fmt.Sprintf("%6.1f", f))
	}
	return strings.Join(s, " ")
}
