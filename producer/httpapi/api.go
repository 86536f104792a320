package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/internal/audit"
	"github.com/resetq/resetq/internal/listener"
	"github.com/resetq/resetq/producer"
)

// Scopes a token can hold.
const (
	// ScopeResets asks for resets and sees whether they are done.
	ScopeResets = "resets"
	// ScopeOutcomes also sees how resets ended, which says whether the
	// user exists.
	ScopeOutcomes = "outcomes"
	// ScopeCampaigns starts, steers and reports on campaigns.
	ScopeCampaigns = "campaigns"
	// ScopeAudit reads the audit trail, which names every client, operator
	// and (as the logs do) user.
	ScopeAudit = "audit"
)

// Token is one client of the API.
type Token struct {
	// Name identifies the client in logs.
	Name   string
	Secret string
	Scopes []string
	// RateN resets per RatePer, and DailyLimit a UTC day, bound what the
	// client may ask for (0: no bound); Config.Redis counts them.
	RateN      int
	RatePer    time.Duration
	DailyLimit int
}

// Config configures the API.
type Config struct {
	Client *producer.Client
	Tokens []Token
	// MaxUpload bounds a campaign's upload in bytes (256 MiB); other
	// bodies are bounded at 64 KiB.
	MaxUpload int64
	// TempDir is where uploads wait while they are imported ("" is the
	// system's).
	TempDir string
	// TransferTimeout is how long an authenticated campaign upload may take
	// to arrive and be imported, and a report to be sent (1h). Every other
	// request keeps the listener's read and write deadlines.
	TransferTimeout time.Duration
	Logger          *slog.Logger
	// Halts serves /v1/providers/{provider}/halt and …/resume; nil leaves
	// those routes out.
	Halts Halts
	// Redis counts the tokens' rate limits and daily quotas, for every
	// API process alike; required when a token has one.
	Redis redis.UniversalClient
	// Now is the clock a daily quota's day is read on (time.Now).
	Now func() time.Time
	// Audit serves GET /v1/audit; nil answers it 404.
	Audit *audit.Trail
}

// maxBody bounds every request body but a campaign upload.
const maxBody = 64 << 10

// API serves the routes under /v1/.
type API struct {
	cfg    Config
	tokens []token
	log    *slog.Logger
	mux    *http.ServeMux
	limits *limits
	// refusals spaces out the audit records of one client's refusals.
	refusals refusals
}

// refusals says whether a refusal is the first of its kind for a client
// in the last minute.
type refusals struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (f *refusals) first(key string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		f.last = map[string]time.Time{}
	}
	if now.Sub(f.last[key]) < time.Minute {
		return false
	}
	f.last[key] = now
	return true
}

type token struct {
	Token
	sum [32]byte
}

// New checks cfg and returns the API.
func New(cfg Config) (*API, error) {
	if cfg.Client == nil {
		return nil, errors.New("httpapi: Config.Client is required")
	}
	if len(cfg.Tokens) == 0 {
		return nil, errors.New("httpapi: at least one token is required (api.tokens)")
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = 256 << 20
	}
	if cfg.TransferTimeout <= 0 {
		cfg.TransferTimeout = time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &API{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), limits: newLimits(cfg.Redis, cfg.Now)}
	for _, t := range cfg.Tokens {
		if t.Secret == "" {
			return nil, fmt.Errorf("httpapi: token %q has no secret", t.Name)
		}
		if (t.RateN > 0 || t.DailyLimit > 0) && cfg.Redis == nil {
			return nil, fmt.Errorf("httpapi: token %q has limits: Config.Redis is required to count them", t.Name)
		}
		if t.RateN > 0 && t.RatePer <= 0 {
			return nil, fmt.Errorf("httpapi: token %q: a rate needs its period", t.Name)
		}
		a.tokens = append(a.tokens, token{Token: t, sum: sha256.Sum256([]byte(t.Secret))})
	}
	a.route("/v1/resets", ScopeResets, map[string]handler{http.MethodPost: a.postReset})
	a.route("/v1/resets/{id}", ScopeResets, map[string]handler{http.MethodGet: a.getReset})
	a.route("/v1/campaigns", ScopeCampaigns, map[string]handler{http.MethodPost: a.postCampaign, http.MethodGet: a.listCampaigns})
	a.route("/v1/campaigns/{name}", ScopeCampaigns, map[string]handler{http.MethodGet: a.getCampaign})
	a.route("/v1/campaigns/{name}/report", ScopeCampaigns, map[string]handler{http.MethodGet: a.getReport})
	for _, verb := range []string{"pause", "resume", "cancel"} {
		a.route("/v1/campaigns/{name}/"+verb, ScopeCampaigns, map[string]handler{http.MethodPost: a.control(verb)})
	}
	a.routeProviders()
	a.route("/v1/audit", ScopeAudit, map[string]handler{http.MethodGet: a.getAudit})
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "not-found", "Not found", "no such resource: "+r.URL.Path)
	})
	return a, nil
}

// handler serves one method of a route for an authenticated client.
type handler func(w http.ResponseWriter, r *http.Request, t *token) error

func (a *API) route(pattern, scope string, methods map[string]handler) {
	allow := strings.Join(sortedKeys(methods), ", ")
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Answers name campaigns, resets and, in reports, users: no cache
		// keeps them.
		w.Header().Set("Cache-Control", "no-store")
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		tok, err := a.serve(rec, r, pattern, scope, methods, allow)
		if err != nil {
			a.fail(rec, r, err)
			a.refused(r, tok, pattern, err)
		}
		name := ""
		if tok != nil {
			name = tok.Name
		}
		a.log.Info("api request", "method", r.Method, "route", pattern, "status", rec.status, "client", name,
			"duration", time.Since(start).Round(time.Millisecond))
	})
}

func (a *API) serve(w http.ResponseWriter, r *http.Request, pattern, scope string, methods map[string]handler, allow string) (*token, error) {
	tok := a.authenticate(r)
	if tok == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="resetq"`)
		return nil, &problemError{status: http.StatusUnauthorized, kind: "unauthorized", title: "Unauthorized",
			detail: "send a token from the configuration's api.tokens as: Authorization: Bearer <token>"}
	}
	// What the client does is done in its name (the audit trail).
	r = r.WithContext(audit.WithActor(r.Context(), requester(r, tok)))
	h, ok := methods[r.Method]
	if !ok {
		w.Header().Set("Allow", allow)
		return tok, &problemError{status: http.StatusMethodNotAllowed, kind: "method-not-allowed", title: "Method not allowed",
			detail: fmt.Sprintf("%s is not allowed here (allowed: %s)", r.Method, allow)}
	}
	if !slices.Contains(tok.Scopes, scope) {
		return tok, &problemError{status: http.StatusForbidden, kind: "forbidden", title: "Forbidden",
			detail: fmt.Sprintf("token %q lacks the %s scope", tok.Name, scope)}
	}
	// A body announced too large is refused before a byte of it is read.
	if limit := a.bodyLimit(pattern, r.Method); r.ContentLength > limit {
		return tok, &http.MaxBytesError{Limit: limit}
	}
	return tok, h(w, r, tok)
}

// bodyLimit is the largest body a route takes: a campaign upload's, or
// 64 KiB.
func (a *API) bodyLimit(pattern, method string) int64 {
	if pattern == "/v1/campaigns" && method == http.MethodPost {
		return a.cfg.MaxUpload
	}
	return maxBody
}

// lift gives an authenticated transfer — a campaign upload, a streamed
// report — TransferTimeout instead of the listener's deadlines, which are
// short so that nobody else can hold a connection open.
func (a *API) lift(w http.ResponseWriter, read bool) {
	rc := http.NewResponseController(w)
	until := time.Now().Add(a.cfg.TransferTimeout)
	if read {
		_ = rc.SetReadDeadline(until)
	}
	_ = rc.SetWriteDeadline(until)
}

// authenticate finds the request's token. Every configured token is
// compared, in constant time, by its SHA-256: neither the time taken nor
// an early exit tells an attacker how close a guess came.
func (a *API) authenticate(r *http.Request) *token {
	got, ok := listener.BearerToken(r)
	if !ok {
		return nil
	}
	sum := sha256.Sum256([]byte(got))
	var found *token
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], a.tokens[i].sum[:]) == 1 {
			found = &a.tokens[i]
		}
	}
	return found
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush lets a streamed report reach the client as it is written.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// refused keeps in the audit trail a request an authenticated client was
// refused for who it is: a scope it lacks, a rate or quota it is over. A
// client that keeps knocking is kept once a minute per kind of refusal
// (and logged every time), so that it cannot push older records out of a
// bounded trail. (A request refused for what it asks is kept by the
// producer; one with no valid token names nobody and is only logged.)
func (a *API) refused(r *http.Request, tok *token, pattern string, err error) {
	var pe *problemError
	if tok == nil || !errors.As(err, &pe) || (pe.status != http.StatusForbidden && pe.status != http.StatusTooManyRequests) {
		return
	}
	if !a.refusals.first(tok.Name+" "+pe.kind, time.Now()) {
		return
	}
	who := requester(r, tok)
	rec := audit.Record{Actor: who.Actor, Address: who.Address, Action: "api.request", Target: r.Method + " " + pattern,
		Result: "refused", Reason: pe.kind + ": " + pe.detail + " (further refusals of this kind within a minute are logged, not kept)"}
	if pattern == "/v1/resets" && r.Method == http.MethodPost {
		rec.Action = "reset.request"
	}
	if err := a.cfg.Audit.Append(context.WithoutCancel(r.Context()), rec); err != nil {
		a.log.Error("could not write to the audit trail", "action", rec.Action, "error", err)
	}
}
