package campaignstest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/campaigns"
)

// Notices records the campaign.completed notices of feeders: each
// campaign must be noticed by exactly one of them, once.
type Notices struct {
	mu   sync.Mutex
	n    map[string]int
	last map[string]campaigns.Campaign
}

// Of returns how many times a campaign was noticed, and as what.
func (ns *Notices) Of(id string) (int, campaigns.Campaign) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.n[id], ns.last[id]
}

func (ns *Notices) add(c *campaigns.Campaign) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.n == nil {
		ns.n, ns.last = map[string]int{}, map[string]campaigns.Campaign{}
	}
	ns.n[c.ID]++
	ns.last[c.ID] = *c
}

// StartFeeder runs a feeder of m until the test ends, quick to look and
// quick to suspect a stall; ns (optional) records its notices.
func StartFeeder(t testing.TB, m *campaigns.Manager, ns *Notices) *campaigns.Feeder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := m.NewFeeder(campaigns.FeederConfig{Interval: 20 * time.Millisecond, StallAfter: 300 * time.Millisecond,
		OnFinished: func(_ context.Context, c *campaigns.Campaign) error {
			if ns != nil {
				ns.add(c)
			}
			return nil
		}})
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

// Get returns the campaign of that name through get (a manager's Get or a
// client's GetCampaign), failing t when it cannot.
func Get[C any](t testing.TB, get func(context.Context, string) (C, error), name string) C {
	t.Helper()
	c, err := get(context.Background(), name)
	require.NoError(t, err)
	return c
}

// Eventually waits, with a deadline, for cond.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 20*time.Second, 10*time.Millisecond, what)
}

// Passes waits for the feeder to look at the campaigns n more times.
func Passes(t testing.TB, f *campaigns.Feeder, n uint64) {
	t.Helper()
	want := f.Passes() + n
	Eventually(t, fmt.Sprintf("%d feeder passes", n), func() bool { return f.Passes() >= want })
}

// Users is a CSV file of n users at domain, each with a ticket as meta.
func Users(n int, domain string) string {
	var b strings.Builder
	b.WriteString("email,ticket\n")
	for i := range n {
		fmt.Fprintf(&b, "user%d@%s,T-%d\n", i, domain, i)
	}
	return b.String()
}

// Uniq makes a name unique to this run: a Redis shared by tests outlives
// a run with -count.
func Uniq(name string) string { return fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1e9) }
