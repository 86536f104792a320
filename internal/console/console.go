// Package console is the operator console, /console/ on the worker's
// listener: pages rendered on the server from the stores the command line
// uses, readable without JavaScript, and forms for what an operator does.
// Who may see and do what is the listener's Auth (listener.Who): a viewer
// reads, an operator also acts, and every action is logged with its
// author. This first page is the providers': healthy or halted (why,
// since when, what to fix), their queues, Resume and Check now.
package console

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/resetq/resetq/internal/listener"
)

// Provider is what the console shows of one provider.
type Provider struct {
	Name, Type string
	// RateLimit is the configured limit ("10/s"), or "unlimited".
	RateLimit string
	Halted    bool
	// Reason, Hint, Message and Since describe the halt.
	Reason, Hint, Message string
	Since                 time.Time
	// Waiting, InFlight and Retrying count its tasks, both queues;
	// Failed those that ended failed and are kept.
	Waiting, InFlight, Retrying, Failed int
}

// Resumed is what a resume did.
type Resumed struct {
	WasHalted bool
	Requeued  int
}

// Checked is what a check found: its lines and warnings when the provider
// is ready, else the problem and what to fix.
type Checked struct {
	OK              bool
	Lines, Warnings []string
	Problem, Hint   string
}

// Source is where the console reads and acts: resetq's own stores.
type Source interface {
	Providers(ctx context.Context) ([]Provider, error)
	// Resume and Check return ErrUnknownProvider for a name that is not
	// configured.
	Resume(ctx context.Context, provider string) (Resumed, error)
	Check(ctx context.Context, provider string) (Checked, error)
}

// ErrUnknownProvider is Source's error for a provider that is not
// configured.
var ErrUnknownProvider = errors.New("no such provider")

// Config configures the console.
type Config struct {
	Source Source
	Logger *slog.Logger
	// Refresh is how often the pages reload themselves (default 5 s).
	Refresh time.Duration
}

//go:embed assets
var assets embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"ago": func(t time.Time) string { return time.Since(t).Round(time.Second).String() },
	"utc": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).ParseFS(assets, "assets/*.html"))

type console struct {
	cfg Config
	mux *http.ServeMux
}

// New returns the console's handler, to be served under /console/ behind
// the listener's guard (Host, cross-origin and Auth checks).
func New(cfg Config) http.Handler {
	cfg.Refresh = cmp.Or(cfg.Refresh, 5*time.Second)
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	c := &console{cfg: cfg, mux: http.NewServeMux()}
	static, _ := fs.Sub(assets, "assets")
	c.mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET /console/{$}", c.providers)
	c.mux.HandleFunc("POST /console/providers/{provider}/resume", c.operator(c.resume))
	c.mux.HandleFunc("POST /console/providers/{provider}/check", c.operator(c.check))
	return c.mux
}

// page is what every page's template gets.
type page struct {
	Title   string
	Who     listener.Identity
	Refresh int // seconds; 0: none
	Notice  string
	Error   string
	Data    any
}

func (c *console) render(w http.ResponseWriter, status int, name string, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, p); err != nil {
		c.cfg.Logger.Error("console: rendering a page failed", "page", name, "error", err)
	}
}

func (c *console) providers(w http.ResponseWriter, r *http.Request) {
	ps, err := c.cfg.Source.Providers(r.Context())
	p := page{Title: "Providers", Who: listener.Who(r), Refresh: int(c.cfg.Refresh / time.Second), Data: ps}
	if err != nil {
		c.cfg.Logger.Error("console: reading the providers failed", "error", err)
		p.Error = "resetq could not read the providers' state (is Redis reachable?); this page tries again by itself"
	}
	// A notice names a configured provider and a count, nothing a link
	// could inject.
	if name := r.URL.Query().Get("resumed"); slices.ContainsFunc(ps, func(x Provider) bool { return x.Name == name }) {
		n, _ := strconv.Atoi(r.URL.Query().Get("requeued"))
		p.Notice = "Resumed " + name + ": " + strconv.Itoa(n) + " task(s) put back in its queue."
		if r.URL.Query().Get("was") == "no" {
			p.Notice = name + " was not halted: nothing to resume."
		}
	}
	c.render(w, http.StatusOK, "providers.html", p)
}

// operator lets only the operator act, and logs who did what.
func (c *console) operator(h func(w http.ResponseWriter, r *http.Request, who listener.Identity)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who := listener.Who(r)
		if !who.Operator {
			c.render(w, http.StatusForbidden, "error.html", page{Title: "Not allowed", Who: who,
				Error: "Only the operator may do this: you are signed in as a viewer (" + who.Name + "). " +
					"The operator's credentials are http.auth in resetq's configuration."})
			return
		}
		h(w, r, who)
	}
}

func (c *console) resume(w http.ResponseWriter, r *http.Request, who listener.Identity) {
	name := r.PathValue("provider")
	res, err := c.cfg.Source.Resume(r.Context(), name)
	if c.failed(w, who, "resume", name, err) {
		return
	}
	c.cfg.Logger.Info("console: provider resumed", "by", who.Name, "provider", name, "was_halted", res.WasHalted, "requeued", res.Requeued)
	q := url.Values{"resumed": {name}, "requeued": {strconv.Itoa(res.Requeued)}}
	if !res.WasHalted {
		q.Set("was", "no")
	}
	http.Redirect(w, r, "/console/?"+q.Encode(), http.StatusSeeOther)
}

func (c *console) check(w http.ResponseWriter, r *http.Request, who listener.Identity) {
	name := r.PathValue("provider")
	res, err := c.cfg.Source.Check(r.Context(), name)
	if c.failed(w, who, "check", name, err) {
		return
	}
	c.cfg.Logger.Info("console: provider checked", "by", who.Name, "provider", name, "ok", res.OK)
	c.render(w, http.StatusOK, "check.html", page{Title: "Check of " + name, Who: who,
		Data: struct {
			Provider string
			Checked
		}{name, res}})
}

// failed answers an action's error, and reports whether there was one.
func (c *console) failed(w http.ResponseWriter, who listener.Identity, action, name string, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrUnknownProvider):
		c.render(w, http.StatusNotFound, "error.html", page{Title: "No such provider", Who: who,
			Error: "No provider of that name is configured."})
	default:
		c.cfg.Logger.Error("console: action failed", "by", who.Name, "action", action, "provider", name, "error", err)
		c.render(w, http.StatusInternalServerError, "error.html", page{Title: "Could not " + action, Who: who,
			Error: "resetq could not " + action + " " + name + ": " + err.Error()})
	}
	return true
}
