package emulator

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"time"
)

// Proxy stands in front of a real server with an emulator's request log and
// fault knobs (Inject, FailNext, SetLatency, SlowAnswers), as a broken
// network or a proxy in front of the IdP would: the conformance suite runs
// against the real server through it exactly as against an emulator. Its
// URL takes the place of the server's; Close stops it.
type Proxy struct {
	*Base
	rp     *httputil.ReverseProxy
	route  func(*http.Request) Endpoint
	giveUp Durations
}

// NewProxy starts a Proxy on a loopback port in front of target, naming
// each request's endpoint with route. defaultBody writes an injected
// status's body.
func NewProxy(target string, route func(*http.Request) Endpoint, defaultBody func(http.ResponseWriter, int)) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("emulator: proxy target %q is not a URL", target)
	}
	p := &Proxy{Base: NewBase(defaultBody), rp: httputil.NewSingleHostReverseProxy(u), route: route}
	p.rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
		http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
	}
	p.Serve(p.serve)
	return p, nil
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	ep := p.route(r)
	call, body, rw, ok := p.Intercept(w, r, r.URL.Path, ep)
	defer call.End()
	if !ok {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	p.forward(rw, r, p.giveUp.Get(ep))
}

// GiveUpAfter makes the proxy stop waiting for the server's answer to ep
// after d and answer 504 itself, as a proxy with a short read timeout does,
// while the server goes on with the request (Any: for every endpoint). 0
// turns it off.
func (p *Proxy) GiveUpAfter(ep Endpoint, d time.Duration) { p.giveUp.Set(ep, d) }

// forward passes r on to the server, or gives up after d (when set) and
// answers 504 while the server finishes on its own.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, d time.Duration) {
	if d <= 0 {
		p.rp.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.rp.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	case <-t.C:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusGatewayTimeout)
		_, _ = w.Write([]byte("<html><body><h1>504 Gateway Time-out</h1></body></html>\n"))
	}
}
