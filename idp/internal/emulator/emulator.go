// Package emulator is the plumbing every IdP emulator shares: the loopback
// server, the request log, fault injection (fail the next N requests, 429
// on every Nth), latency, a response recorder, and the numbering of sample
// users. Each emulator embeds a Base and keeps its own model of the IdP.
package emulator

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Endpoint names a route, for faults and the log.
type Endpoint string

// Any matches every endpoint in a Fault.
const Any Endpoint = ""

// Request is one request an emulator received, with its answer.
type Request struct {
	Time     time.Time
	Method   string
	Path     string // without any prefix
	Query    url.Values
	Bearer   string
	Body     []byte
	Header   http.Header
	Endpoint Endpoint
	Status   int
	// Response and ResponseHeader are the answer (the body capped at 64 KiB).
	Response       []byte
	ResponseHeader http.Header
}

// Fault makes matching requests fail before the IdP would see them, as a
// broken server or a proxy in front of it would.
type Fault struct {
	// Endpoint limits the fault to one route; Any matches all.
	Endpoint Endpoint
	// Times is how many matching requests fail; 0 means every one until
	// ClearFaults.
	Times int
	// Every, when > 1, fails only every Every-th matching request.
	Every int
	// Status and Body are the answer; an empty Body gets the emulator's
	// default for the status (a proxy's page for 429).
	Status int
	Body   string
	// RetryAfter, when set, is sent as a Retry-After header in seconds.
	RetryAfter time.Duration
}

type fault struct {
	Fault
	seen, fired int
}

// maxLog bounds the request log; the oldest half is dropped when it fills,
// so a long `resetq dev` session stays small.
const maxLog = 100_000

// Base holds the shared state. Its methods are safe for concurrent use.
type Base struct {
	// Now is the emulator's clock.
	Now func() time.Time
	// DefaultBody writes the emulator's usual body for an injected status.
	DefaultBody func(w http.ResponseWriter, status int)

	srv *httptest.Server

	mu      sync.Mutex
	log     []Request
	logBase int
	faults  []*fault
	latency time.Duration
	slow    Durations
}

// NewBase returns a Base on the real clock.
func NewBase(defaultBody func(http.ResponseWriter, int)) *Base {
	return &Base{Now: time.Now, DefaultBody: defaultBody}
}

// Serve starts answering with serve on a loopback port, until Close.
func (b *Base) Serve(serve func(http.ResponseWriter, *http.Request)) {
	b.srv = httptest.NewServer(http.HandlerFunc(serve))
}

// URL is the base URL of the server Serve started.
func (b *Base) URL() string { return b.srv.URL }

// Close shuts the server down.
func (b *Base) Close() { b.srv.Close() }

// SetLatency delays every response by d.
func (b *Base) SetLatency(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.latency = d
}

// SlowAnswers holds every answer of ep (Any: of every endpoint) for d after
// the request was carried out, as an IdP does that sends mail inside the
// request over a slow relay: the work is done even when the client gives up
// before the answer comes. 0 turns it off.
func (b *Base) SlowAnswers(ep Endpoint, d time.Duration) { b.slow.Set(ep, d) }

// Durations holds a duration for each endpoint, as knobs such as
// SlowAnswers keep them. The zero value is empty; it is safe for
// concurrent use.
type Durations struct {
	mu sync.Mutex
	m  map[Endpoint]time.Duration
}

// Set sets ep's duration (Any: every endpoint's); 0 clears it.
func (d *Durations) Set(ep Endpoint, v time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[Endpoint]time.Duration{}
	}
	d.m[ep] = v
}

// Get returns the longer of ep's duration and Any's.
func (d *Durations) Get(ep Endpoint) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return max(d.m[ep], d.m[Any])
}

// Inject adds a fault. Faults are checked in the order added.
func (b *Base) Inject(f Fault) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults = append(b.faults, &fault{Fault: f})
}

// FailNext makes the next n requests to ep answer status with body.
func (b *Base) FailNext(ep Endpoint, n, status int, body string) {
	b.Inject(Fault{Endpoint: ep, Times: n, Status: status, Body: body})
}

// RateLimitEvery answers every n-th request to ep with 429 and a
// Retry-After header, as a rate-limiting proxy in front of the IdP would.
func (b *Base) RateLimitEvery(ep Endpoint, n int, retryAfter time.Duration) {
	b.Inject(Fault{Endpoint: ep, Every: n, Status: http.StatusTooManyRequests, RetryAfter: retryAfter})
}

// ClearFaults removes every fault.
func (b *Base) ClearFaults() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults = nil
}

// Requests returns the request log (the most recent entries).
func (b *Base) Requests() []Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.log)
}

// RequestsTo returns the logged requests to one endpoint.
func (b *Base) RequestsTo(ep Endpoint) []Request {
	return slices.DeleteFunc(b.Requests(), func(r Request) bool { return r.Endpoint != ep })
}

// Call is one request in flight.
type Call struct {
	b     *Base
	idx   int
	rec   *Recorder
	Fault *Fault
	// Latency is how long to wait before answering.
	Latency time.Duration
}

// Begin logs a request and returns the call with the fault that applies
// to it, if any, and the writer to answer through.
func (b *Base) Begin(w http.ResponseWriter, r *http.Request, path string, ep Endpoint, body []byte) (*Call, http.ResponseWriter) {
	entry := Request{
		Time: b.Now(), Method: r.Method, Path: path, Query: r.URL.Query(),
		Body: body, Header: r.Header.Clone(), Endpoint: ep,
	}
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		entry.Bearer = strings.TrimPrefix(h, "Bearer ")
	}
	rec := &Recorder{ResponseWriter: w}
	b.mu.Lock()
	defer b.mu.Unlock()
	rec.hold = b.slow.Get(ep)
	if len(b.log) >= maxLog {
		b.log = append(b.log[:0], b.log[maxLog/2:]...)
		b.logBase += maxLog - maxLog/2
	}
	c := &Call{b: b, idx: b.logBase + len(b.log), rec: rec, Latency: b.latency}
	b.log = append(b.log, entry)
	c.Fault = b.take(ep)
	return c, rec
}

// End records the answer in the log and, for a slow answer, sends it
// after the hold.
func (c *Call) End() {
	c.b.mu.Lock()
	if i := c.idx - c.b.logBase; i >= 0 {
		c.b.log[i].Status = c.rec.status
		c.b.log[i].Response = bytes.Clone(c.rec.body.Bytes())
		c.b.log[i].ResponseHeader = c.rec.Header().Clone()
	}
	c.b.mu.Unlock()
	c.rec.release()
}

// Wait sleeps for the latency; it returns false when the client went away.
func (c *Call) Wait(r *http.Request) bool {
	if c.Latency <= 0 {
		return true
	}
	t := time.NewTimer(c.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// WriteFault answers with the call's fault.
func (c *Call) WriteFault(w http.ResponseWriter) {
	f := c.Fault
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int((f.RetryAfter+time.Second-1)/time.Second)))
	}
	switch {
	case f.Body != "":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
	case f.Status == http.StatusTooManyRequests:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte("<html><head><title>429 Too Many Requests</title></head><body><center><h1>429 Too Many Requests</h1></center></body></html>\n"))
	default:
		c.b.DefaultBody(w, f.Status)
	}
}

func (b *Base) take(ep Endpoint) *Fault {
	for _, f := range b.faults {
		if f.Endpoint != Any && f.Endpoint != ep {
			continue
		}
		if f.Times > 0 && f.fired >= f.Times {
			continue
		}
		f.seen++
		if f.Every > 1 && f.seen%f.Every != 0 {
			continue
		}
		f.fired++
		ff := f.Fault
		return &ff
	}
	return nil
}

// Recorder remembers the status and the start of the body it writes. With
// a hold, it keeps the whole answer back until release.
type Recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	hold   time.Duration
	held   bytes.Buffer
}

// WriteHeader records the status.
func (r *Recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	if r.hold == 0 {
		r.ResponseWriter.WriteHeader(code)
	}
}

// Write records the first 64 KiB of the body.
func (r *Recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.body.Len() < 64<<10 {
		r.body.Write(b)
	}
	if r.hold > 0 {
		return r.held.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

// release sends a held answer once the hold has passed; the client may be
// gone by then, and the work stays done.
func (r *Recorder) release() {
	if r.hold == 0 {
		return
	}
	time.Sleep(r.hold)
	if r.status != 0 {
		r.ResponseWriter.WriteHeader(r.status)
	}
	_, _ = r.ResponseWriter.Write(r.held.Bytes())
}

// Locked returns what fn computes with mu held: the accessors tests call
// while requests are served read an emulator's state this way.
func Locked[T any](mu *sync.Mutex, fn func() T) T {
	mu.Lock()
	defer mu.Unlock()
	return fn()
}

// Count is how many of items match holds for.
func Count[T any](items []T, match func(T) bool) int {
	n := 0
	for _, it := range items {
		if match(it) {
			n++
		}
	}
	return n
}

// NewID returns a random UUID (version 4), as both IdPs name their
// resources.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

// Intercept does what comes before an emulator's own work on a request:
// it reads the body (1 MiB at most), logs the request as ep, waits out the
// latency and answers an injected fault. It returns the call, whose End
// the caller defers, the body, and the writer to answer through; ok is
// false when nothing is left to answer (a fault did, or the client left).
func (b *Base) Intercept(w http.ResponseWriter, r *http.Request, path string, ep Endpoint) (call *Call, body []byte, rw http.ResponseWriter, ok bool) {
	body, _ = io.ReadAll(io.LimitReader(r.Body, 1<<20))
	call, rw = b.Begin(w, r, path, ep, body)
	if !call.Wait(r) {
		return call, body, rw, false
	}
	if call.Fault != nil {
		call.WriteFault(rw)
		return call, body, rw, false
	}
	return call, body, rw, true
}

// SampleUser is one user of a sample set, numbered as both emulators'
// AddSampleUsers number them, so that `resetq dev` reads the same whichever
// IdP it plays.
type SampleUser struct {
	Username, Email, FirstName, LastName string
	// Off marks every tenth user, whom the IdP will not reset (disabled,
	// banned).
	Off bool
}

// SampleUsers returns users user0001 to user n.
func SampleUsers(n int) []SampleUser {
	out := make([]SampleUser, n)
	for i := range out {
		name := fmt.Sprintf("user%04d", i+1)
		out[i] = SampleUser{Username: name, Email: name + "@example.com", FirstName: "User",
			LastName: fmt.Sprintf("%04d", i+1), Off: (i+1)%10 == 0}
	}
	return out
}

// AddSample adds the n sample users through add, which sets apart (as
// disabled, suspended, inactive) those marked off, and returns the
// addresses of the others and of those set apart.
func AddSample(n int, add func(email string, off bool)) (emails, off []string) {
	for _, u := range SampleUsers(n) {
		add(u.Email, u.Off)
		if u.Off {
			off = append(off, u.Email)
		} else {
			emails = append(emails, u.Email)
		}
	}
	return emails, off
}
