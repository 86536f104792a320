package console

import (
	"strconv"
	"sync"
	"time"
)

// Rate is how fast a counter shared by every worker grew: PerSecond over
// the last Over. While Over is 0 it is still being measured.
type Rate struct {
	PerSecond float64
	Over      time.Duration
}

// Measuring reports whether there are not yet samples enough to tell.
func (r Rate) Measuring() bool { return r.Over <= 0 }

// String is the rate as the pages show it: "4.8/s", "12/s", "1.5/min",
// "0/s", or "measuring".
func (r Rate) String() string {
	switch p := r.PerSecond; {
	case r.Measuring():
		return "measuring"
	case p <= 0:
		return "0/s"
	case p >= 9.95:
		return strconv.FormatFloat(p, 'f', 0, 64) + "/s"
	case p >= 0.095:
		return strconv.FormatFloat(p, 'f', 1, 64) + "/s"
	default:
		return strconv.FormatFloat(p*60, 'f', 1, 64) + "/min"
	}
}

// Sampler measures rates from counters read now and then (as pages are
// rendered): each key's rate is its growth over the last window, from the
// oldest sample inside the window to the value read now. A key needs two
// readings at least MinSpan apart before it has a rate. A counter that went
// back (a queue deleted, a campaign made again under its name) starts
// over: no rate rather than a negative one.
//
// Memory is bounded: a key keeps at most one sample per window/maxSamples
// and none older than the window, and a key not read for a window is
// forgotten. Its methods are safe for concurrent use.
type Sampler struct {
	now    func() time.Time
	window time.Duration
	// step is the least time between two kept samples of a key.
	step time.Duration

	mu        sync.Mutex
	series    map[string]*series
	lastSweep time.Time
}

type sample struct {
	at time.Time
	n  int64
}

type series struct {
	samples []sample // oldest first
	seen    time.Time
}

const (
	// MinSpan is how far apart two readings must be for a rate.
	MinSpan = 3 * time.Second
	// maxSamples bounds the samples a key keeps.
	maxSamples = 30
)

// NewSampler returns a sampler measuring over window (at least a few
// times MinSpan; 0 means a minute), reading the time from now (nil:
// time.Now).
func NewSampler(window time.Duration, now func() time.Time) *Sampler {
	if window <= 0 {
		window = time.Minute
	}
	window = max(window, 2*MinSpan)
	if now == nil {
		now = time.Now
	}
	return &Sampler{now: now, window: window, step: window / maxSamples, series: map[string]*series{}}
}

// Observe records that key's counter reads n now, and returns its rate.
func (s *Sampler) Observe(key string, n int64) Rate {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	ser := s.series[key]
	if ser == nil {
		ser = &series{}
		s.series[key] = ser
	}
	ser.seen = now
	// Samples older than the window say nothing about now.
	i := 0
	for i < len(ser.samples) && now.Sub(ser.samples[i].at) > s.window {
		i++
	}
	ser.samples = ser.samples[i:]
	if k := len(ser.samples); k > 0 {
		first, last := ser.samples[0], ser.samples[k-1]
		if n < last.n || n < first.n || now.Before(last.at) {
			ser.samples = ser.samples[:0] // reset, or a clock that went back: start over
		}
	}
	if k := len(ser.samples); k == 0 || now.Sub(ser.samples[k-1].at) >= s.step {
		if k >= maxSamples {
			ser.samples = append(ser.samples[:0], ser.samples[1:]...)
		}
		ser.samples = append(ser.samples, sample{at: now, n: n})
	}
	first := ser.samples[0]
	span := now.Sub(first.at)
	if span < MinSpan {
		return Rate{}
	}
	return Rate{PerSecond: float64(n-first.n) / span.Seconds(), Over: span}
}

// sweep forgets the keys not read for a window, at most once a window.
func (s *Sampler) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < s.window {
		return
	}
	s.lastSweep = now
	for k, ser := range s.series {
		if now.Sub(ser.seen) > s.window {
			delete(s.series, k)
		}
	}
}
