package listener

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Readiness reports whether the process can do its work, and per component
// what it knows.
type Readiness interface {
	Readiness(ctx context.Context) (bool, map[string]string)
}

// Auth is what protects the UI and the console: the operator's bearer
// token, or user name and password for HTTP Basic, and read-only viewers'.
// The zero Auth lets everyone in, as a viewer.
type Auth struct {
	Token              string
	Username, Password string
	// Viewers may look at the UI and the console and change nothing.
	Viewers []Credential
}

// Credential is one viewer's token, or user name and password.
type Credential struct {
	Name               string
	Token              string
	Username, Password string
}

// Identity is who made a request: its name (for the log of what they
// did), and whether they may change things.
type Identity struct {
	Name     string
	Operator bool
}

type identityKey struct{}

// Who is the identity Auth gave the request; a request that did not pass
// through it is nobody's, and no operator.
func Who(r *http.Request) Identity {
	id, _ := r.Context().Value(identityKey{}).(Identity)
	return id
}

// RemoteHost is the address a request came from, without its port: the
// proxy's, behind one (resetq trusts no forwarding header).
func RemoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// Enabled reports whether the Auth asks for anything.
func (a Auth) Enabled() bool { return a.Token != "" || a.Username != "" || len(a.Viewers) > 0 }

// Wrap refuses requests without credentials it knows, comparing in
// constant time, and tells the handler who made the request (Who).
func (a Auth) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := a.identify(r)
		if ok {
			h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
			return
		}
		if a.Token != "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="resetq"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Basic realm="resetq", charset="UTF-8"`)
		}
		refuse(w, http.StatusUnauthorized, "authentication required")
	})
}

// identify finds whose credentials the request carries. With no
// credentials configured at all, everyone is an anonymous viewer.
func (a Auth) identify(r *http.Request) (Identity, bool) {
	if !a.Enabled() {
		return Identity{Name: "anonymous"}, true
	}
	if a.Token != "" || a.Username != "" {
		if (Credential{Token: a.Token, Username: a.Username, Password: a.Password}).matches(r) {
			return Identity{Name: cmp.Or(a.Username, "operator"), Operator: true}, true
		}
	}
	for _, v := range a.Viewers {
		if v.matches(r) {
			return Identity{Name: v.Name}, true
		}
	}
	return Identity{}, false
}

func (c Credential) matches(r *http.Request) bool {
	if c.Token != "" {
		got, ok := BearerToken(r)
		return ok && same(got, c.Token)
	}
	user, pass, ok := r.BasicAuth()
	userOK, passOK := same(user, c.Username), same(pass, c.Password)
	return ok && userOK && passOK
}

// BearerToken returns the token of a request's "Authorization: Bearer"
// header. The scheme is matched without regard to case, as RFC 9110 says.
func BearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// same compares in constant time, lengths included: digests of equal size
// are compared, so a wrong guess's length tells nothing.
func same(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// Options is what the listener serves besides /healthz.
type Options struct {
	Gatherer  prometheus.Gatherer
	Readiness Readiness
	// UI is served under /ui/ behind Auth; nil serves none. A viewer may
	// only read it.
	UI http.Handler
	// Console is served under /console/ behind Auth, the same way; it
	// reads Who for what a viewer may do. ConsoleMaxBody bounds its
	// request bodies (a campaign's file); default the UI's 1 MiB.
	Console        http.Handler
	ConsoleMaxBody int64
	Auth           Auth
	// Hosts are the names the UI answers to besides IP addresses and
	// localhost: the listen address's name and http.allowed_hosts.
	Hosts []string
	// API is served under /v1/ (it checks its own tokens); nil serves
	// none.
	API http.Handler
}

// Handler returns the mux of the operational endpoints. The UI's and the
// API's answers carry users, and are never cached.
func Handler(o Options) http.Handler {
	g, r := o.Gatherer, o.Readiness
	mux := http.NewServeMux()
	if o.UI != nil {
		ui := noStore(guardUI(readOnlyForViewers(o.UI), o.Auth, o.Hosts, maxUIBody))
		mux.Handle("/ui/", ui)
		mux.Handle("/ui", ui)
	}
	if o.Console != nil {
		c := noStore(guardUI(o.Console, o.Auth, o.Hosts, cmp.Or(o.ConsoleMaxBody, maxUIBody)))
		mux.Handle("/console/", c)
		mux.Handle("/console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	}
	if o.API != nil {
		mux.Handle("/v1/", noStore(o.API))
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		ready, checks := r.Readiness(ctx)
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": ready, "checks": checks})
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		index := "resetq: /metrics /healthz /readyz"
		if o.Console != nil {
			index += " /console/"
		}
		if o.UI != nil {
			index += " /ui/"
		}
		if o.API != nil {
			index += " /v1/"
		}
		_, _ = w.Write([]byte(index + "\n"))
	})
	return mux
}

// Server is a running listener.
type Server struct {
	Addr string
	srv  *http.Server
	done chan error
}

// Start listens on addr and serves h within limits (its zero fields take
// DefaultLimits') until Shutdown. Every answer says nosniff and may not
// be framed.
func Start(addr string, h http.Handler, limits Limits) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	limits = limits.WithDefaults()
	s := &Server{Addr: l.Addr().String(), done: make(chan error, 1), srv: limits.server(secureHeaders(h))}
	go func() { s.done <- s.srv.Serve(newLimitListener(l, limits.MaxConns)) }()
	return s, nil
}

// Shutdown stops the listener, letting requests in flight finish.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
