package worker_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/resetq/resetq/idp"
)

// answer is what the fake IdP does with one call. The zero answer accepts
// the reset at once.
type answer struct {
	// err is returned after the wait; nil accepts the reset.
	err error
	// delay is how long the IdP takes to answer.
	delay time.Duration
	// block holds the answer until it is closed.
	block chan struct{}
	// deaf keeps the call going when its context ends: the IdP carries the
	// reset out whatever the caller does meanwhile.
	deaf bool
	// panics makes Reset panic instead of answering.
	panics bool
}

// refuse is an answer with an IdP error of a kind, as a provider would
// classify it.
func refuse(kind idp.Kind) answer {
	e := &idp.Error{Kind: kind, Op: idp.OpReset, Status: 500, Message: "the fake IdP says " + kind.String()}
	switch kind {
	case idp.Credentials:
		e.Status, e.Hint = 401, "check auth.client_secret"
	case idp.Permission:
		e.Status, e.Hint = 403, "give the service account the manage-users role"
	case idp.Configuration:
		e.Hint = "configure the realm's SMTP server"
	case idp.UserNotFound:
		e.Status = 404
	case idp.RateLimited:
		e.Status = 429
	case idp.Transient:
		e.Status = 502
	}
	return answer{err: e}
}

// rateLimited is the IdP asking to wait d.
func rateLimited(d time.Duration) answer {
	a := refuse(idp.RateLimited)
	a.err.(*idp.Error).RetryAfter = d
	return a
}

// call is one Reset the fake IdP saw.
type call struct {
	user  string
	start time.Time
	// sent is when the request reached the IdP, after the caller's pace;
	// zero when the pace refused it.
	sent time.Time
	// accepted: the IdP carried the reset out (an email went out).
	accepted bool
	err      error
}

// fakeIdP is an idp.Provider that answers as the test scripts it: per user
// (by email), answers are used in order; once a user's script runs out,
// the default answer is used. It keeps every call.
type fakeIdP struct {
	mu       sync.Mutex
	scripts  map[string][]answer
	def      answer
	calls    []call
	inFlight int
}

var _ idp.Provider = (*fakeIdP)(nil)

func newFakeIdP() *fakeIdP { return &fakeIdP{scripts: map[string][]answer{}} }

// script queues answers for a user's next calls.
func (f *fakeIdP) script(email string, answers ...answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scripts[email] = append(f.scripts[email], answers...)
}

// setDefault sets the answer for calls with no script left.
func (f *fakeIdP) setDefault(a answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.def = a
}

func (f *fakeIdP) next(email string) answer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight++
	if s := f.scripts[email]; len(s) > 0 {
		f.scripts[email] = s[1:]
		return s[0]
	}
	return f.def
}

func (f *fakeIdP) done(c call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight--
	f.calls = append(f.calls, c)
}

// Reset runs the caller's pace, as a provider does right before it sends,
// then answers.
func (f *fakeIdP) Reset(ctx context.Context, req idp.Request) error {
	a := f.next(req.User.Email)
	c := call{user: req.User.Email, start: time.Now()}
	if req.Pace != nil {
		if err := req.Pace(ctx); err != nil {
			c.err = err
			f.done(c)
			return err
		}
	}
	c.sent = time.Now()
	if a.panics {
		f.done(c)
		panic("the fake IdP panics")
	}
	wait := ctx.Done()
	if a.deaf {
		wait = nil
	}
	var timer <-chan time.Time
	if a.delay > 0 {
		t := time.NewTimer(a.delay)
		defer t.Stop()
		timer = t.C
	}
	if a.block != nil || timer != nil {
		select {
		case <-a.block:
		case <-timer:
		case <-wait:
			c.err = &idp.Error{Kind: idp.Transient, Op: idp.OpReset, Message: "the call was cut", Err: ctx.Err()}
			f.done(c)
			return c.err
		}
	}
	c.err, c.accepted = a.err, a.err == nil
	f.done(c)
	return a.err
}

// all returns every finished call.
func (f *fakeIdP) all() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// callsFor returns a user's finished calls.
func (f *fakeIdP) callsFor(email string) []call {
	return slices.DeleteFunc(f.all(), func(c call) bool { return c.user != email })
}

// accepted counts the resets the IdP carried out for a user: the emails
// it sent.
func (f *fakeIdP) accepted(email string) int {
	n := 0
	for _, c := range f.callsFor(email) {
		if c.accepted {
			n++
		}
	}
	return n
}

// sentTimes lists when each reset that reached the IdP did.
func (f *fakeIdP) sentTimes() []time.Time {
	var out []time.Time
	for _, c := range f.all() {
		if !c.sent.IsZero() {
			out = append(out, c.sent)
		}
	}
	return out
}

// busy is how many calls are under way.
func (f *fakeIdP) busy() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inFlight
}

// checkingIdP is the fake IdP with a start-up check.
type checkingIdP struct {
	*fakeIdP
	check func() error
}

var _ idp.Checker = checkingIdP{}

func (c checkingIdP) Check(context.Context) (idp.CheckReport, error) {
	return idp.CheckReport{}, c.check()
}

func (c call) String() string {
	return fmt.Sprintf("%s at %s accepted=%v err=%v", c.user, c.start.Format("15:04:05.000"), c.accepted, c.err)
}
