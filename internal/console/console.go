// Package console is the operator console, /console/ on the worker's
// listener: pages rendered on the server from the stores the command line
// uses, readable without JavaScript, and forms for what an operator does.
// Who may see and do what is the listener's Auth (listener.Who): a viewer
// reads, an operator also acts, and every action is logged with its
// author. This first page is the providers': healthy or halted (why,
// since when, what to fix), their queues, their current rate, their last
// check, Resume and Check now.
package console

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/resetq/resetq/internal/audit"
	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/listener"
	"github.com/resetq/resetq/tasks"
)

// Provider is what the console shows of one provider.
type Provider struct {
	Name, Type string
	// RateLimit is the configured limit ("10/s"), or "unlimited".
	RateLimit string
	// Current is how fast its tasks are processed now, by every worker
	// (nil when it could not be read).
	Current *Rate
	Halted  bool
	// Reason, Hint, Message and Since describe the halt.
	Reason, Hint, Message string
	Since                 time.Time
	// Waiting, InFlight and Retrying count its tasks, both queues;
	// Failed those that ended failed and are kept.
	Waiting, InFlight, Retrying, Failed int
	// LastCheck is its last check, from the console or the command line;
	// nil when none is kept.
	LastCheck *LastCheck
}

// LastCheck is a check kept: when, by whom, and what it found.
type LastCheck struct {
	At time.Time
	// By is the operator's name, or "cli:<user>@<host>" for
	// `resetq provider check`.
	By string
	Checked
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

// Campaign is what the console shows of one campaign.
type Campaign struct {
	Name, Provider, Status string
	// Rows counts every row; Finished those with an outcome, by outcome
	// below; Queued those a worker has; Waiting the rest.
	Rows, Finished, Queued, Waiting       int
	Succeeded, Skipped, Failed, Cancelled int
	// Rate is its configured pace ("20/s", "the provider's"); Measured
	// its pace now, while it runs (nil otherwise); ETA how long the rest
	// takes at the measured pace, else the configured one ("" when it
	// cannot tell).
	Rate, ETA                        string
	Measured                         *Rate
	CreatedAt, StartedAt, FinishedAt time.Time
	// StartedBy is who started it, as "console:ops (10.0.0.4)"; "" when
	// an older build did.
	StartedBy string
	// Why counts the rows that ended with a reason (skipped
	// user_not_found, failed retries_exhausted, …); nil when the campaign
	// does not keep these counts (one an older build created).
	Why []Count
}

// Percent is how much of the campaign has an outcome.
func (c Campaign) Percent() int {
	if c.Rows == 0 {
		return 100
	}
	return c.Finished * 100 / c.Rows
}

// Actions on a campaign.
const (
	Pause  = "pause"
	Resume = "resume"
	Cancel = "cancel"
)

// CanDo reports whether the action applies to the campaign's status.
func (c Campaign) CanDo(action string) bool {
	switch action {
	case Pause:
		return c.Status == "running" || c.Status == "scheduled"
	case Resume:
		return c.Status == "paused"
	case Cancel:
		return c.Status == "running" || c.Status == "scheduled" || c.Status == "paused"
	}
	return false
}

// Webhook is what the console shows of one webhook endpoint.
type Webhook struct {
	Name, URL string
	Events    []string
	Disabled  bool
	// DisabledSince and DisabledReason say why it was disabled.
	DisabledSince  time.Time
	DisabledReason string
	// LastStatus, LastAt and LastError are its last answer.
	LastStatus int
	LastAt     time.Time
	LastError  string
	Delivered  int64
	Failed     int64
}

// Webhooks is the webhooks page's data: the endpoints, and the events
// waiting for delivery, all endpoints together.
type Webhooks struct {
	Endpoints []Webhook
	Backlog   int
}

// Task is where one reset stands, as `resetq enqueue --wait` tells it.
type Task struct {
	ID, Provider, State string
	// Outcome, Reason, Error, Attempts and Finished are set once it ended.
	Outcome, Reason, Error string
	Attempts               int
	Finished               time.Time
	Campaign               string
	// Retried and LastError while it is retried; Halted when its
	// provider is halted.
	Retried   int
	LastError string
	Halted    bool
	// Requester is who asked for it, as "api:helpdesk (10.0.0.4)", or
	// "unknown" for a task queued before requesters were recorded.
	Requester string
}

// Failure is a reset that ended failed, kept in Asynq's archive.
type Failure struct {
	TaskID, Provider, Error string
	// User is the address, or "" unless log.include_user allows it.
	User     string
	FailedAt time.Time
}

// Count is how many resets ended with an outcome and reason.
type Count struct {
	Outcome, Reason string
	N               int
}

// sortCounts puts counts in the order the pages list them: by outcome
// (succeeded, skipped, failed, cancelled, then a campaign's queued and
// waiting rows), then by reason.
func sortCounts(cs []Count) {
	slices.SortFunc(cs, func(a, b Count) int {
		return cmp.Or(cmp.Compare(campaigns.StateRank(a.Outcome), campaigns.StateRank(b.Outcome)),
			cmp.Compare(a.Outcome, b.Outcome), cmp.Compare(a.Reason, b.Reason))
	})
}

// Outcomes is the outcomes page's data.
type Outcomes struct {
	// Counts are by outcome and reason; Since says since when they count.
	Counts []Count
	Since  string
	// Failures are the most recent failed resets.
	Failures []Failure
	// Task is a looked-up task; Lookup what was asked, LookupError why
	// nothing was found.
	Task        *Task
	Lookup      string
	LookupError string
}

// ReportStates are the states a report can be filtered by.
var ReportStates = []string{"succeeded", "skipped", "failed", "cancelled", "waiting", "queued"}

// Source is where the console reads and acts: resetq's own stores.
type Source interface {
	Providers(ctx context.Context) ([]Provider, error)
	// Campaigns lists every campaign, newest first.
	Campaigns(ctx context.Context) ([]Campaign, error)
	// Steer pauses, resumes or cancels a campaign; it returns
	// ErrUnknownCampaign for a name no campaign has, and ErrNotNow when
	// the campaign's status does not allow it.
	Steer(ctx context.Context, campaign, action string) error
	// Report writes the campaign's rows in those states (all when none)
	// as CSV.
	Report(ctx context.Context, campaign string, states []string, w io.Writer) error
	// Reasons counts the campaign's rows by state and reason (the rows
	// without an outcome by waiting or queued), in any order;
	// ErrUnknownCampaign for a name no campaign has.
	Reasons(ctx context.Context, campaign string) ([]Count, error)
	// Outcomes counts resets by outcome and reason (in any order), and
	// lists the most recent failures (at most limit).
	Outcomes(ctx context.Context, limit int) (Outcomes, error)
	// Task finds a task by its ID; ErrUnknownTask when none has it.
	Task(ctx context.Context, id string) (*Task, error)
	// Scan reads a campaign's file as a dry run (nothing is stored);
	// Start imports it and starts the campaign, and returns its name.
	// Both return ErrBadInput, with what is wrong, for a request or file
	// they refuse.
	Scan(ctx context.Context, src io.Reader, req NewCampaign) (ScanReport, error)
	Start(ctx context.Context, src io.Reader, req NewCampaign) (string, error)
	// Webhooks lists the endpoints and the delivery backlog.
	Webhooks(ctx context.Context) (Webhooks, error)
	// EnableWebhook re-enables an endpoint; ErrUnknownWebhook for a name
	// no endpoint has.
	EnableWebhook(ctx context.Context, endpoint string) (wasDisabled bool, err error)
	// Resume and Check return ErrUnknownProvider for a name that is not
	// configured. Check keeps what it found as the provider's last check,
	// run by by.
	Resume(ctx context.Context, provider string) (Resumed, error)
	Check(ctx context.Context, provider, by string) (Checked, error)
}

// Source's errors.
var (
	// ErrUnknownProvider: no provider of that name is configured.
	ErrUnknownProvider = errors.New("no such provider")
	// ErrUnknownCampaign: no campaign has that name.
	ErrUnknownCampaign = errors.New("no such campaign")
	// ErrNotNow: the campaign's status does not allow the action.
	ErrNotNow = errors.New("not possible in the campaign's status")
	// ErrUnknownTask: no task has that ID (or it ended longer ago than
	// outcomes are kept).
	ErrUnknownTask = errors.New("no such task")
	// ErrUnknownWebhook: no webhook endpoint has that name.
	ErrUnknownWebhook = errors.New("no such webhook endpoint")
)

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
	"ago":     func(t time.Time) string { return ago(time.Since(t)) },
	"span":    func(d time.Duration) string { return ago(d) },
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"utc":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).ParseFS(assets, "assets/*.html"))

// ago is how long ago, as a reader says it: "42s", "5m12s", "3h5m",
// "4d3h".
func ago(d time.Duration) string {
	if s := max(d, 0).Round(time.Second); s < time.Hour {
		return s.String()
	}
	if m := d.Round(time.Minute); m < 48*time.Hour {
		return strconv.Itoa(int(m/time.Hour)) + "h" + strconv.Itoa(int(m%time.Hour/time.Minute)) + "m"
	}
	h := d.Round(time.Hour)
	return strconv.Itoa(int(h/(24*time.Hour))) + "d" + strconv.Itoa(int(h%(24*time.Hour)/time.Hour)) + "h"
}

type console struct {
	cfg     Config
	mux     *http.ServeMux
	uploads uploads
}

// New returns the console's handler, to be served under /console/ behind
// the listener's guard (Host, cross-origin and Auth checks).
func New(cfg Config) http.Handler {
	cfg.Refresh = cmp.Or(cfg.Refresh, 5*time.Second)
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	c := &console{cfg: cfg, mux: http.NewServeMux(), uploads: uploads{files: map[string]upload{}}}
	static, _ := fs.Sub(assets, "assets")
	c.mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET /console/{$}", c.providers)
	c.mux.HandleFunc("POST /console/providers/{provider}/resume", c.operator(c.resume))
	c.mux.HandleFunc("POST /console/providers/{provider}/check", c.operator(c.check))
	c.mux.HandleFunc("GET /console/campaigns", c.campaigns)
	c.mux.HandleFunc("GET /console/campaigns/new", c.operator(c.newCampaign))
	c.mux.HandleFunc("POST /console/campaigns/new", c.operator(c.checkUpload))
	c.mux.HandleFunc("POST /console/campaigns/start", c.operator(c.startUpload))
	c.mux.HandleFunc("POST /console/campaigns/{campaign}/{action}", c.operator(c.steer))
	c.mux.HandleFunc("GET /console/campaigns/{campaign}/report.csv", c.operator(c.report))
	c.mux.HandleFunc("GET /console/campaigns/{campaign}/outcomes", c.campaignOutcomes)
	c.mux.HandleFunc("GET /console/outcomes", c.outcomes)
	c.mux.HandleFunc("GET /console/webhooks", c.webhooks)
	c.mux.HandleFunc("POST /console/webhooks/{endpoint}/enable", c.operator(c.enableWebhook))
	// Whatever the console does is done in the name of who is signed in,
	// from where: the audit trail reads it from the context.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := tasks.Requester{Actor: "console:" + listener.Who(r).Name, Address: listener.RemoteHost(r)}
		c.mux.ServeHTTP(w, r.WithContext(audit.WithActor(r.Context(), who)))
	})
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
	res, err := c.cfg.Source.Check(r.Context(), name, who.Name)
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
func (c *console) failed(w http.ResponseWriter, who listener.Identity, action, target string, err error) bool {
	notFound := map[error]string{ErrUnknownProvider: "No provider of that name is configured.",
		ErrUnknownCampaign: "No campaign has that name.", ErrUnknownWebhook: "No webhook endpoint has that name."}
	for e, msg := range notFound {
		if errors.Is(err, e) {
			c.render(w, http.StatusNotFound, "error.html", page{Title: "Not found", Who: who, Error: msg})
			return true
		}
	}
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrNotNow):
		c.render(w, http.StatusConflict, "error.html", page{Title: "Not now", Who: who,
			Error: "The campaign cannot be " + map[string]string{Pause: "paused", Resume: "resumed", Cancel: "cancelled"}[action] + " in its status."})
	default:
		c.cfg.Logger.Error("console: action failed", "by", who.Name, "action", action, "target", target, "error", err)
		c.render(w, http.StatusInternalServerError, "error.html", page{Title: "Could not " + action, Who: who,
			Error: "resetq could not " + action + " " + target + ": " + err.Error()})
	}
	return true
}

func (c *console) campaigns(w http.ResponseWriter, r *http.Request) {
	cs, err := c.cfg.Source.Campaigns(r.Context())
	p := page{Title: "Campaigns", Who: listener.Who(r), Refresh: int(c.cfg.Refresh / time.Second), Data: cs}
	if err != nil {
		c.cfg.Logger.Error("console: reading the campaigns failed", "error", err)
		p.Error = "resetq could not read the campaigns (is Redis reachable?); this page tries again by itself"
	}
	q := r.URL.Query()
	if name, action := q.Get("done"), q.Get("action"); slices.ContainsFunc(cs, func(x Campaign) bool { return x.Name == name }) &&
		slices.Contains([]string{Pause, Resume, Cancel, "start"}, action) {
		p.Notice = map[string]string{Pause: "Paused ", Resume: "Resumed ", Cancel: "Cancelled ", "start": "Started "}[action] + name + "."
	}
	c.render(w, http.StatusOK, "campaigns.html", p)
}

// campaignPage is the data of one campaign's outcomes page.
type campaignPage struct {
	Campaign Campaign
	Counts   []Count
}

// campaignOutcomes shows one campaign's rows counted by outcome and reason.
func (c *console) campaignOutcomes(w http.ResponseWriter, r *http.Request) {
	who, name := listener.Who(r), r.PathValue("campaign")
	cs, err := c.cfg.Source.Campaigns(r.Context())
	i := slices.IndexFunc(cs, func(x Campaign) bool { return x.Name == name })
	if err == nil && i < 0 {
		err = ErrUnknownCampaign
	}
	var counts []Count
	if err == nil {
		counts, err = c.cfg.Source.Reasons(r.Context(), name)
		sortCounts(counts)
	}
	switch {
	case errors.Is(err, ErrUnknownCampaign):
		c.render(w, http.StatusNotFound, "error.html", page{Title: "No such campaign", Who: who, Error: "No campaign is named " + name + "."})
		return
	case err != nil:
		c.cfg.Logger.Error("console: reading a campaign's outcomes failed", "campaign", name, "error", err)
		c.render(w, http.StatusInternalServerError, "error.html", page{Title: "Campaign", Who: who,
			Error: "resetq could not read the campaign (is Redis reachable?)"})
		return
	}
	c.render(w, http.StatusOK, "campaign.html", page{Title: "Campaign " + name, Who: who,
		Refresh: int(c.cfg.Refresh / time.Second), Data: campaignPage{Campaign: cs[i], Counts: counts}})
}

func (c *console) steer(w http.ResponseWriter, r *http.Request, who listener.Identity) {
	name, action := r.PathValue("campaign"), r.PathValue("action")
	if !slices.Contains([]string{Pause, Resume, Cancel}, action) {
		c.render(w, http.StatusNotFound, "error.html", page{Title: "No such action", Who: who, Error: "A campaign can be paused, resumed or cancelled."})
		return
	}
	if c.failed(w, who, action, name, c.cfg.Source.Steer(r.Context(), name, action)) {
		return
	}
	c.cfg.Logger.Info("console: campaign "+action, "by", who.Name, "campaign", name)
	http.Redirect(w, r, "/console/campaigns?"+url.Values{"done": {name}, "action": {action}}.Encode(), http.StatusSeeOther)
}

// report streams a campaign's report as CSV, filtered by ?state=. It names
// every user, so it is the operator's, as `resetq campaign report` is.
func (c *console) report(w http.ResponseWriter, r *http.Request, who listener.Identity) {
	name := r.PathValue("campaign")
	states := r.URL.Query()["state"]
	for _, s := range states {
		if !slices.Contains(ReportStates, s) {
			http.Error(w, "state must be one of "+strings.Join(ReportStates, ", "), http.StatusBadRequest)
			return
		}
	}
	// Nothing is written before the first row: a campaign nobody has is
	// still a 404.
	lw := &lazyWriter{w: w, start: func() {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`-report.csv"`)
	}}
	err := c.cfg.Source.Report(r.Context(), name, states, lw)
	if err == nil {
		c.cfg.Logger.Info("console: campaign report downloaded", "by", who.Name, "campaign", name, "states", strings.Join(states, ","))
	}
	switch {
	case errors.Is(err, ErrUnknownCampaign) && !lw.started:
		http.Error(w, "no such campaign", http.StatusNotFound)
	case err != nil && !lw.started:
		c.cfg.Logger.Error("console: report failed", "campaign", name, "error", err)
		http.Error(w, "the report could not be read", http.StatusInternalServerError)
	case err != nil:
		c.cfg.Logger.Error("console: report cut short", "campaign", name, "error", err)
	}
}

// lazyWriter sets the answer's headers at its first write.
type lazyWriter struct {
	w       io.Writer
	start   func()
	started bool
}

func (l *lazyWriter) Write(b []byte) (int, error) {
	if !l.started {
		l.started = true
		l.start()
	}
	return l.w.Write(b)
}

func (c *console) webhooks(w http.ResponseWriter, r *http.Request) {
	wh, err := c.cfg.Source.Webhooks(r.Context())
	p := page{Title: "Webhooks", Who: listener.Who(r), Refresh: int(c.cfg.Refresh / time.Second), Data: wh}
	if err != nil {
		c.cfg.Logger.Error("console: reading the webhooks failed", "error", err)
		p.Error = "resetq could not read the webhooks' state (is Redis reachable?); this page tries again by itself"
	}
	if name := r.URL.Query().Get("enabled"); slices.ContainsFunc(wh.Endpoints, func(x Webhook) bool { return x.Name == name }) {
		p.Notice = "Re-enabled " + name + ": new events are delivered to it again."
	}
	c.render(w, http.StatusOK, "webhooks.html", p)
}

func (c *console) enableWebhook(w http.ResponseWriter, r *http.Request, who listener.Identity) {
	name := r.PathValue("endpoint")
	was, err := c.cfg.Source.EnableWebhook(r.Context(), name)
	if c.failed(w, who, "re-enable", name, err) {
		return
	}
	c.cfg.Logger.Info("console: webhook endpoint re-enabled", "by", who.Name, "endpoint", name, "was_disabled", was)
	http.Redirect(w, r, "/console/webhooks?"+url.Values{"enabled": {name}}.Encode(), http.StatusSeeOther)
}

// recentFailures is how many failures the outcomes page lists.
const recentFailures = 50

func (c *console) outcomes(w http.ResponseWriter, r *http.Request) {
	o, err := c.cfg.Source.Outcomes(r.Context(), recentFailures)
	sortCounts(o.Counts)
	p := page{Title: "Outcomes", Who: listener.Who(r)}
	if err != nil {
		c.cfg.Logger.Error("console: reading the outcomes failed", "error", err)
		p.Error = "resetq could not read the outcomes (is Redis reachable?)"
	}
	if id := strings.TrimSpace(r.URL.Query().Get("task")); id != "" {
		o.Lookup = id
		t, err := c.cfg.Source.Task(r.Context(), id)
		switch {
		case errors.Is(err, ErrUnknownTask):
			o.LookupError = "No task has that ID, or it ended longer ago than outcomes are kept (worker.outcome_retention)."
		case err != nil:
			o.LookupError = "resetq could not look the task up: " + err.Error()
		default:
			o.Task = t
		}
	} else {
		p.Refresh = int(c.cfg.Refresh / time.Second)
	}
	p.Data = o
	c.render(w, http.StatusOK, "outcomes.html", p)
}
