package console

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/testclock"
)

func newTestSampler() (*Sampler, *testclock.Clock) {
	clock := testclock.New(time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC))
	return NewSampler(time.Minute, clock.Now), clock
}

func TestOneSampleIsNoRate(t *testing.T) {
	t.Parallel()
	s, clock := newTestSampler()
	r := s.Observe("provider:corp", 100)
	require.True(t, r.Measuring())
	require.Equal(t, "measuring", r.String())

	clock.Add(time.Second)
	require.True(t, s.Observe("provider:corp", 110).Measuring(), "two samples too close together")
	clock.Add(MinSpan)
	r = s.Observe("provider:corp", 140)
	require.False(t, r.Measuring())
	require.Equal(t, MinSpan+time.Second, r.Over)
	require.InDelta(t, 10.0, r.PerSecond, 1e-9)
	require.Equal(t, "10/s", r.String())

	require.True(t, s.Observe("provider:other", 5).Measuring(), "each key has its own samples")
}

func TestTheRateIsOverTheLastWindow(t *testing.T) {
	t.Parallel()
	s, clock := newTestSampler()
	// Fast at first, then slow: the rate forgets the fast part once it
	// is out of the window.
	n := int64(0)
	for range 10 { // 10 s at 100/s
		s.Observe("k", n)
		clock.Add(time.Second)
		n += 100
	}
	for range 70 { // then 2/s
		s.Observe("k", n)
		clock.Add(time.Second)
		n += 2
	}
	r := s.Observe("k", n)
	require.InDelta(t, 2.0, r.PerSecond, 1e-9, "%v", r)
	require.LessOrEqual(t, r.Over, time.Minute)
	require.GreaterOrEqual(t, r.Over, time.Minute-2*time.Second, "the oldest sample inside the window")
	require.Equal(t, "2.0/s", r.String())

	// Not read for longer than the window: measured afresh.
	clock.Add(2 * time.Minute)
	require.True(t, s.Observe("k", n+1000).Measuring())
	clock.Add(5 * time.Second)
	r = s.Observe("k", n+1005)
	require.InDelta(t, 1.0, r.PerSecond, 1e-9)
}

func TestACounterThatWentBackGivesNoRate(t *testing.T) {
	t.Parallel()
	s, clock := newTestSampler()
	s.Observe("campaign:spring", 500)
	clock.Add(10 * time.Second)
	require.InDelta(t, 5.0, s.Observe("campaign:spring", 550).PerSecond, 1e-9)
	clock.Add(10 * time.Second)
	r := s.Observe("campaign:spring", 3) // made again under its name
	require.True(t, r.Measuring(), "a counter reset is no negative rate: %v", r)
	require.GreaterOrEqual(t, r.PerSecond, 0.0)
	clock.Add(10 * time.Second)
	require.InDelta(t, 0.7, s.Observe("campaign:spring", 10).PerSecond, 1e-9, "measured from the reset on")
}

func TestAStandingCounterIsZero(t *testing.T) {
	t.Parallel()
	s, clock := newTestSampler()
	s.Observe("k", 42)
	clock.Add(30 * time.Second)
	r := s.Observe("k", 42)
	require.False(t, r.Measuring())
	require.Equal(t, "0/s", r.String())
}

func TestRateStrings(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		perSecond float64
		want      string
	}{{4.84, "4.8/s"}, {9.96, "10/s"}, {250, "250/s"}, {0.5, "0.5/s"}, {1.0 / 60, "1.0/min"}, {0, "0/s"}} {
		require.Equal(t, tt.want, Rate{PerSecond: tt.perSecond, Over: time.Minute}.String(), "%v", tt.perSecond)
	}
}

// size is how many keys and samples the sampler holds.
func (s *Sampler) size() (keys, samples int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ser := range s.series {
		samples += len(ser.samples)
	}
	return len(s.series), samples
}

func TestTheSamplerHoldsLittle(t *testing.T) {
	t.Parallel()
	s, clock := newTestSampler()
	// A page read by many, every 100 ms for an hour, keeps a bounded
	// number of samples.
	for i := range 36000 {
		s.Observe("provider:corp", int64(i))
		clock.Add(100 * time.Millisecond)
	}
	keys, samples := s.size()
	require.Equal(t, 1, keys)
	require.LessOrEqual(t, samples, maxSamples+1)
	require.InDelta(t, 10.0, s.Observe("provider:corp", 36000).PerSecond, 0.01)

	// Keys no longer read (campaigns that ended) are forgotten.
	for i := range 500 {
		s.Observe(fmt.Sprintf("campaign:c%d", i), 1)
	}
	keys, _ = s.size()
	require.Equal(t, 501, keys)
	for range 3 {
		clock.Add(time.Minute)
		s.Observe("provider:corp", 40000)
	}
	keys, samples = s.size()
	require.Equal(t, 1, keys, "only the key still read is kept")
	require.LessOrEqual(t, samples, maxSamples+1)
}

func TestTheSamplerIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	s, clock := newTestSampler()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				s.Observe(fmt.Sprintf("k%d", g%3), int64(i))
				if g == 0 {
					clock.Add(100 * time.Millisecond) // 20 s in all: no key is forgotten
				}
			}
		})
	}
	wg.Wait()
	keys, samples := s.size()
	require.Equal(t, 3, keys)
	require.LessOrEqual(t, samples, 3*(maxSamples+1))
}

func TestAgoReadsLikeAPerson(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{-time.Second, "0s"}, {42 * time.Second, "42s"}, {5*time.Minute + 12*time.Second, "5m12s"},
		{3*time.Hour + 5*time.Minute + 20*time.Second, "3h5m"}, {47*time.Hour + 59*time.Minute + 50*time.Second, "2d0h"}, {59*time.Minute + 59*time.Second + 600*time.Millisecond, "1h0m"},
		{4*24*time.Hour + 3*time.Hour + 10*time.Minute, "4d3h"}, {30 * 24 * time.Hour, "30d0h"}} {
		require.Equal(t, tt.want, ago(tt.d), "%v", tt.d)
	}
}
