package keycloaktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/resetq/resetq/idp/internal/emulator"
)

// Proxy stands in front of a real Keycloak with the emulator's request log
// and fault knobs (Inject, FailNext, SetLatency, SlowAnswers), as a broken
// network or a proxy in front of Keycloak would: the conformance suite runs
// against the real server through it exactly as against the emulator. Its
// URL is the base URL to configure resetq with; Close stops it.
type Proxy struct {
	*emulator.Base
	rp     *httputil.ReverseProxy
	giveUp emulator.Durations
}

// NewProxy starts a Proxy on a loopback port in front of target, a
// Keycloak base URL.
func NewProxy(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("keycloaktest: proxy target %q is not a URL", target)
	}
	p := &Proxy{Base: emulator.NewBase(defaultBody), rp: httputil.NewSingleHostReverseProxy(u)}
	p.rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
		http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
	}
	p.Serve(p.serve)
	return p, nil
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	ep, _, _, _ := route(r.Method, r.URL.Path)
	call, body, rw, ok := p.Intercept(w, r, r.URL.Path, ep)
	defer call.End()
	if !ok {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	p.forward(rw, r, p.giveUp.Get(ep))
}

// GiveUpAfter makes the proxy stop waiting for Keycloak's answer to ep
// after d and answer 504 itself, as a proxy with a short read timeout does,
// while Keycloak goes on with the request (EndpointAny: for every
// endpoint). 0 turns it off.
func (p *Proxy) GiveUpAfter(ep Endpoint, d time.Duration) { p.giveUp.Set(ep, d) }

// forward passes r on to Keycloak, or gives up after d (when set) and
// answers 504 while Keycloak finishes on its own.
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

// TokenRequests counts requests to token endpoints.
func (p *Proxy) TokenRequests() int { return len(p.RequestsTo(EndpointToken)) }

// IssuedTokens returns the access tokens Keycloak issued through the
// proxy, oldest first.
func (p *Proxy) IssuedTokens() []string {
	var out []string
	for _, r := range p.RequestsTo(EndpointToken) {
		var t struct {
			AccessToken string `json:"access_token"`
		}
		if r.Status == http.StatusOK && json.Unmarshal(r.Response, &t) == nil && t.AccessToken != "" {
			out = append(out, t.AccessToken)
		}
	}
	return out
}
