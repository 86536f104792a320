package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/worker"
)

// idpLatency is how long the emulated IdP takes to answer each call: a
// Keycloak a few network hops away, sending mail inside the request.
const idpLatency = 50 * time.Millisecond

// resetTimes returns when the emulator accepted each reset so far, in order.
func resetTimes(kc *keycloaktest.Server) []time.Time {
	var times []time.Time
	for _, r := range kc.RequestsTo(keycloaktest.EndpointExecuteActions) {
		if r.Status == http.StatusNoContent {
			times = append(times, r.Time)
		}
	}
	slices.SortFunc(times, func(a, c time.Time) int { return a.Compare(c) })
	return times
}

// pace is the steady rate of times after the first second (the limiter's
// burst and the workers warming up), and the most in any one second.
func pace(times []time.Time) (perSecond float64, most int) {
	steady := times[:0:0]
	for _, t := range times {
		if t.Sub(times[0]) >= time.Second {
			steady = append(steady, t)
		}
	}
	perSecond = float64(len(steady)-1) / steady[len(steady)-1].Sub(steady[0]).Seconds()
	j := 0
	for i := range times {
		for j < len(times) && times[j].Sub(times[i]) < time.Second {
			j++
		}
		most = max(most, j-i)
	}
	return perSecond, most
}

// emails returns n user references by email, cycling through the sample.
func (e *env) emails(n int) []tasks.User {
	out := make([]tasks.User, n)
	for i := range out {
		out[i] = tasks.User{Email: e.users.Emails[i%len(e.users.Emails)]}
	}
	return out
}

// BenchmarkIdPBound prints the throughput of a provider whose configured
// rate limit, not the worker, is what holds it back: 200/s against an IdP
// answering every call in 50 ms, with enough workers for twice that. It
// also counts the token requests when tokens live 5 s.
func BenchmarkIdPBound(b *testing.B) {
	const (
		limit  = 200
		resets = 4000
		conc   = 40 // a lookup and a PUT at 50 ms each: 400/s
		life   = 5 * time.Second
	)
	e := newEnv(b)
	e.kc.SetLatency(idpLatency)
	e.kc.SetTokenLifespan("corp", life)
	tokens0 := e.kc.TokenRequests()
	var elapsed time.Duration
	e.drain(b, worker.Provider{Name: "bound", RateCount: limit, RatePeriod: time.Second}, conc, e.emails(resets),
		func(w *stopwatch) { elapsed = time.Since(w.start) })
	tokens := e.kc.TokenRequests() - tokens0
	achieved, most := pace(resetTimes(e.kc))
	fmt.Printf("\nIdP-bound: rate_limit %d/s, the IdP answering in %s, concurrency %d (room for %d/s), %d resets by email:\n",
		limit, idpLatency, conc, conc*int(time.Second/(2*idpLatency)), resets)
	fmt.Printf("  %.1f resets/s achieved = %.3f of the limit (target ≥ 0.95); at most %d in any one second (limit + burst %d)\n",
		achieved, achieved/limit, most, limit+worker.Pace(limit, time.Second).Burst)
	fmt.Printf("  token requests with %s tokens: %d in %.1f s (one per %.1f s; %.0f per 10,000 resets at this pace)\n",
		life, tokens, elapsed.Seconds(), elapsed.Seconds()/float64(tokens), float64(tokens)/resets*10000)
	b.ReportMetric(achieved/limit, "of-limit")
	b.ReportMetric(float64(tokens)/resets*10000, "tokens/10k")
}

// BenchmarkAgainstANaiveLoop prints resetq beside what people write by
// hand: a loop that, for each user in turn, fetches an admin token, looks
// the user up by email and calls execute-actions-email, against the same
// emulator answering every call in 50 ms.
func BenchmarkAgainstANaiveLoop(b *testing.B) {
	const (
		naiveUsers  = 60
		resetqUsers = 2000
	)
	e := newEnv(b)
	e.kc.SetLatency(idpLatency)

	hc := &http.Client{}
	tokens0 := e.kc.TokenRequests()
	start := time.Now()
	for _, u := range e.emails(naiveUsers) {
		token := e.token(b, hc)
		id := e.lookup(b, hc, token, u.Email)
		req, _ := http.NewRequest(http.MethodPut, e.kc.URL()+"/admin/realms/corp/users/"+id+"/execute-actions-email",
			strings.NewReader(`["UPDATE_PASSWORD"]`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			b.Fatalf("execute-actions-email: %s", res.Status)
		}
	}
	naive := time.Since(start)
	naiveTokens := e.kc.TokenRequests() - tokens0

	tokens0 = e.kc.TokenRequests()
	var elapsed time.Duration
	e.drain(b, worker.Provider{Name: "corp"}, concurrency, e.emails(resetqUsers),
		func(w *stopwatch) { elapsed = time.Since(w.start) })
	resetqTokens := e.kc.TokenRequests() - tokens0

	naiveRate := naiveUsers / naive.Seconds()
	resetqRate := resetqUsers / elapsed.Seconds()
	out := os.Stdout
	fmt.Fprintf(out, "\nagainst a naive loop, every IdP call taking %s, users by email:\n", idpLatency)
	fmt.Fprintf(out, "  %-58s %8s %10s %18s\n", "", "resets/s", "10k users", "tokens per 10k")
	fmt.Fprintf(out, "  %-58s %8.1f %10s %18.0f\n", fmt.Sprintf("naive loop: token, lookup, PUT per user (%d users)", naiveUsers),
		naiveRate, (time.Duration(10000/naiveRate) * time.Second).Round(time.Second), float64(naiveTokens)/naiveUsers*10000)
	fmt.Fprintf(out, "  %-58s %8.1f %10s %18.0f\n", fmt.Sprintf("resetq worker, concurrency %d, no rate limit (%d users)", concurrency, resetqUsers),
		resetqRate, (time.Duration(10000/resetqRate) * time.Second).Round(time.Second), float64(resetqTokens)/resetqUsers*10000)
	fmt.Fprintf(out, "  resetq is %.0f× faster, and asks for %d× fewer tokens\n", resetqRate/naiveRate,
		int(float64(naiveTokens)/naiveUsers/(float64(resetqTokens)/resetqUsers)))
	b.ReportMetric(naiveRate, "naive-resets/s")
	b.ReportMetric(resetqRate, "resetq-resets/s")
}

// lookup finds a user's id by email, as a script would.
func (e *env) lookup(b *testing.B, hc *http.Client, token, email string) string {
	b.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.kc.URL()+"/admin/realms/corp/users?"+
		url.Values{"email": {email}, "exact": {"true"}}.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	var users []struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(res.Body).Decode(&users); err != nil || len(users) != 1 {
		b.Fatalf("lookup: %s, %d users, %v", res.Status, len(users), err)
	}
	return users[0].ID
}
