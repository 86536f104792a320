package producer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/resetq/resetq/internal/audit"
	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/tasks"
)

// CampaignStatus is where a campaign stands.
type CampaignStatus string

// Campaign statuses.
const (
	CampaignImporting CampaignStatus = "importing" // rows are being stored; nothing runs yet
	CampaignScheduled CampaignStatus = "scheduled" // waiting for StartAt
	CampaignRunning   CampaignStatus = "running"
	CampaignPaused    CampaignStatus = "paused"
	CampaignCancelled CampaignStatus = "cancelled"
	CampaignCompleted CampaignStatus = "completed"
)

// Reasons a campaign's row can end with besides the task reasons; tasks
// defines them with those.
const (
	// ReasonDuplicateRow: the same user appears earlier in the file.
	ReasonDuplicateRow = tasks.ReasonDuplicateRow
	// ReasonInvalidRow: the row could not be read (SkipInvalid).
	ReasonInvalidRow = tasks.ReasonInvalidRow
	// ReasonCancelled: the campaign was cancelled before the row was sent.
	ReasonCancelled = tasks.ReasonCancelled
)

// Campaign is a campaign's settings, state and counters.
type Campaign struct {
	// ID is the campaign's name: [a-z0-9-], unique.
	ID       string
	Provider string
	// Actions asked of the IdP; empty means the provider's default.
	Actions []string
	// Source is the imported file's name; Digest its SHA-256.
	Source, Digest string
	Status         CampaignStatus
	// Rows is the number of rows (users, duplicates and invalid rows
	// included).
	Rows int
	// RateN resets per RatePer, across every worker; 0 means only the
	// provider's rate limit applies.
	RateN   int
	RatePer time.Duration
	// Window is how many of its tasks may wait in the queue at once.
	Window int
	// CreatedAt is when it was imported, StartAt when it may start (zero:
	// at once), StartedAt when it did, FinishedAt when its last row got
	// its outcome.
	CreatedAt, StartAt, StartedAt, FinishedAt time.Time
	// Inflight counts the rows whose task is in the queue; the others
	// count the rows by outcome.
	Inflight                              int
	Succeeded, Skipped, Failed, Cancelled int
	// StartedBy is who started it (zero for a campaign an older build
	// started).
	StartedBy tasks.Requester
	// Reasons counts the rows with an outcome by outcome and reason, in
	// the order of outcomes, then reasons; nil for a campaign an older
	// build created (CampaignReasons counts its rows).
	Reasons []RowCount
}

func campaignOf(c *campaigns.Campaign) *Campaign {
	if c == nil {
		return nil
	}
	return &Campaign{ID: c.ID, Provider: c.Provider, Actions: c.Actions, Source: c.Source, Digest: c.Digest,
		Status: CampaignStatus(c.Status), Rows: c.Rows, RateN: c.RateN, RatePer: c.RatePer, Window: c.Window,
		CreatedAt: c.CreatedAt, StartAt: c.StartAt, StartedAt: c.StartedAt, FinishedAt: c.FinishedAt,
		Inflight: c.Inflight, Succeeded: c.Succeeded, Skipped: c.Skipped, Failed: c.Failed, Cancelled: c.Cancelled,
		StartedBy: c.Requester, Reasons: rowCounts(c.ByReason)}
}

// counts is the part of the campaign its derived numbers come from.
func (c *Campaign) counts() *campaigns.Campaign {
	return &campaigns.Campaign{Rows: c.Rows, RateN: c.RateN, RatePer: c.RatePer, FinishedAt: c.FinishedAt,
		Inflight: c.Inflight, Succeeded: c.Succeeded, Skipped: c.Skipped, Failed: c.Failed, Cancelled: c.Cancelled}
}

// Finished counts rows with an outcome.
func (c *Campaign) Finished() int { return c.counts().Finished() }

// Waiting counts rows not yet handed to a worker.
func (c *Campaign) Waiting() int { return c.counts().Waiting() }

// Done reports whether every row has an outcome.
func (c *Campaign) Done() bool { return c.counts().Done() }

// Totals counts the rows by state: waiting, queued, and the outcomes.
func (c *Campaign) Totals() map[string]int { return c.counts().Totals() }

// Rate returns the campaign's pace in resets per second (0: unlimited).
func (c *Campaign) Rate() float64 { return c.counts().Rate() }

// CampaignFormat is a campaign file's format.
type CampaignFormat string

// Campaign file formats.
const (
	FormatCSV   CampaignFormat = "csv"
	FormatJSONL CampaignFormat = "jsonl"
)

// Problem is a row of a campaign's file that cannot be reset as it is.
type Problem struct {
	Line int `json:"line"`
	// Reason is invalid_user, no_user, invalid_meta, malformed or
	// duplicate_row.
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// Scan is what reading a campaign's file found.
type Scan struct {
	// Rows counts every row, Valid those that name one user correctly.
	Rows, Valid int
	// Duplicates counts valid rows naming a user an earlier row names.
	Duplicates int
	// Problems lists invalid and duplicate rows by line (the first 1000).
	Problems []Problem
	// Invalid counts all invalid rows, listed or not.
	Invalid int
	// Reasons counts every problem, listed or not, by reason.
	Reasons map[string]int
	// Digest is the SHA-256 of the file.
	Digest string
}

// Users counts the distinct users: the resets the campaign will send.
func (s *Scan) Users() int { return s.Valid - s.Duplicates }

func scanOf(s *campaigns.Scan) *Scan {
	if s == nil {
		return nil
	}
	out := &Scan{Rows: s.Rows, Valid: s.Valid, Duplicates: s.Duplicates, Invalid: s.Invalid, Reasons: s.Reasons,
		Digest: s.Digest}
	for _, p := range s.Problems {
		out.Problems = append(out.Problems, Problem(p))
	}
	return out
}

// InvalidRowsError is returned by StartCampaign for a file with invalid
// rows when SkipInvalid is not set; Scan lists them.
type InvalidRowsError struct{ Scan *Scan }

func (e *InvalidRowsError) Error() string {
	first := 0
	for _, p := range e.Scan.Problems {
		if p.Reason != ReasonDuplicateRow {
			first = p.Line
			break
		}
	}
	return fmt.Sprintf("%d of %d rows are invalid (first on line %d); fix them, or start with skip-invalid to record them as failed",
		e.Scan.Invalid, e.Scan.Rows, first)
}

// Unwrap makes the error an ErrInvalidRequest.
func (e *InvalidRowsError) Unwrap() error { return ErrInvalidRequest }

// CampaignRequest asks for a campaign.
type CampaignRequest struct {
	// Name names the campaign ([a-z0-9-]); empty derives one from Source
	// and the file's digest, so the same file gets the same name.
	Name     string
	Provider string
	// Source is the file's name, kept for the record; Format defaults to
	// what its extension says (CSV unless .jsonl or .ndjson).
	Source string
	Format CampaignFormat
	// Actions asked of the IdP; empty means the provider's default.
	Actions []string
	// RateN resets per RatePer across every worker, on top of the
	// provider's own rate limit. Spread instead paces the campaign to
	// finish in that time. Neither: only the provider's limit applies.
	RateN   int
	RatePer time.Duration
	Spread  time.Duration
	// StartAt holds the campaign until then.
	StartAt time.Time
	// Window is how many of its tasks may wait in the queue at once;
	// 0 means two minutes' worth at its pace (50 to 20,000).
	Window int
	// SkipInvalid records invalid rows as failed (invalid_row) instead of
	// refusing the file.
	SkipInvalid bool
	// ForceNew starts a new campaign even when one of this name and file
	// exists; it gets the name with a number added.
	ForceNew bool
	// Requester is who starts it; zero is the client's own
	// ("app:<Config.Name>").
	Requester tasks.Requester
}

func (r CampaignRequest) internal() campaigns.Request {
	return campaigns.Request{Name: r.Name, Provider: r.Provider, Source: r.Source, Format: campaigns.Format(r.Format),
		Actions: r.Actions, RateN: r.RateN, RatePer: r.RatePer, Spread: r.Spread, StartAt: r.StartAt,
		Window: r.Window, SkipInvalid: r.SkipInvalid, ForceNew: r.ForceNew}
}

// CampaignStarted is what StartCampaign did.
type CampaignStarted struct {
	Campaign *Campaign
	Scan     *Scan
	// Resumed is true when the campaign existed (same name, same file):
	// nothing was imported, and no user is reset twice.
	Resumed bool
}

// ScanCampaign reads a campaign's file once, as StartCampaign would, and
// reports every row it would refuse or skip, storing nothing: a dry run.
func (c *Client) ScanCampaign(src io.Reader, req CampaignRequest) (*Scan, error) {
	s, err := c.campaigns.Scan(src, req.internal())
	return scanOf(s), publicError(err)
}

// StartCampaign imports a file and starts a campaign over its users. The
// file is read once, from start to end: each row is checked and stored as
// it is read. The rows are kept in Redis, and the feeders in the workers
// do the rest. A campaign of the same name and file resumes instead:
// nobody is reset twice.
func (c *Client) StartCampaign(ctx context.Context, src io.Reader, req CampaignRequest) (*CampaignStarted, error) {
	ir := req.internal()
	ir.Requester = cmp.Or(req.Requester, audit.ActorOf(ctx, c.requester))
	ctx = audit.WithActor(ctx, ir.Requester)
	if err := ir.Requester.Validate(); err != nil {
		err = fmt.Errorf("%w: %v", ErrInvalidRequest, err)
		c.recordCampaign(ctx, "campaign.start", req.Name, req.Provider, err)
		return nil, err
	}
	res, err := c.campaigns.Start(ctx, src, ir)
	name := req.Name
	if err == nil {
		name = res.Campaign.ID
	}
	c.recordCampaign(ctx, "campaign.start", name, req.Provider, err)
	if err != nil {
		return nil, publicError(err)
	}
	return &CampaignStarted{Campaign: campaignOf(res.Campaign), Scan: scanOf(res.Scan), Resumed: res.Resumed}, nil
}

// DefaultCampaignName names a campaign after its file and the file's
// digest: the same file gives the same name, so starting it again resumes
// it.
func DefaultCampaignName(source, digest string) string { return campaigns.DefaultName(source, digest) }

// GetCampaign returns a campaign by name.
func (c *Client) GetCampaign(ctx context.Context, name string) (*Campaign, error) {
	return public(c.campaigns.Get(ctx, name))
}

// Campaigns lists every campaign, newest first.
func (c *Client) Campaigns(ctx context.Context) ([]*Campaign, error) {
	list, err := c.campaigns.List(ctx)
	if err != nil {
		return nil, publicError(err)
	}
	out := make([]*Campaign, len(list))
	for i, camp := range list {
		out[i] = campaignOf(camp)
	}
	return out, nil
}

// PauseCampaign stops a campaign from sending more resets: the tasks
// waiting in the queue are taken back (resets already with the IdP finish).
// Pausing a paused campaign does nothing.
func (c *Client) PauseCampaign(ctx context.Context, name string) (*Campaign, error) {
	return c.steered(ctx, "campaign.pause", name)(c.campaigns.Pause(ctx, name))
}

// ResumeCampaign lets a paused campaign go on where it stopped.
func (c *Client) ResumeCampaign(ctx context.Context, name string) (*Campaign, error) {
	return c.steered(ctx, "campaign.resume", name)(c.campaigns.Resume(ctx, name))
}

// CancelCampaign ends a campaign: every user not yet sent to the IdP ends
// cancelled (resets already with the IdP finish). Cancelling a cancelled
// campaign does nothing new.
func (c *Client) CancelCampaign(ctx context.Context, name string) (*Campaign, error) {
	return c.steered(ctx, "campaign.cancel", name)(c.campaigns.Cancel(ctx, name))
}

// steered records what an action on a campaign did in the audit trail,
// with who did it (see WithRequester), and returns its result.
func (c *Client) steered(ctx context.Context, action, name string) func(*campaigns.Campaign, error) (*Campaign, error) {
	return func(camp *campaigns.Campaign, err error) (*Campaign, error) {
		c.recordCampaign(ctx, action, name, "", err)
		return public(camp, err)
	}
}

// recordCampaign records an action on a campaign: ok, or refused or failed
// with why.
func (c *Client) recordCampaign(ctx context.Context, action, name, provider string, err error) {
	who := audit.ActorOf(ctx, c.requester)
	rec := audit.Record{Actor: who.Actor, Address: who.Address, Action: action, Target: "campaign:" + name,
		Result: "ok", Campaign: name, Provider: provider}
	if err != nil {
		err = publicError(err)
		rec.Result, rec.Reason = "failed", err.Error()
		for _, refusal := range []error{ErrInvalidRequest, ErrCampaignState, ErrCampaignNotFound, ErrCampaignExists} {
			if errors.Is(err, refusal) {
				rec.Result = "refused"
			}
		}
	}
	c.record(ctx, rec)
}

func public(c *campaigns.Campaign, err error) (*Campaign, error) {
	if err != nil {
		return nil, publicError(err)
	}
	return campaignOf(c), nil
}

// ReportRow is one row of a campaign's report.
type ReportRow struct {
	// Line is the row's line in the file.
	Line int
	// User is the row's user; Invalid the text of a row that named none.
	User    tasks.User
	Invalid string
	// State is waiting, queued, or the outcome: succeeded, skipped,
	// failed, cancelled.
	State    string
	Reason   string
	Attempts int
	// Finished is when the row got its outcome (to the second).
	Finished time.Time
	// Requester is who asked for the row's reset: who started the
	// campaign ("unknown" for one an older build started).
	Requester string
}

// CampaignReport calls fn for every row of the campaign, in file order.
func (c *Client) CampaignReport(ctx context.Context, name string, fn func(ReportRow) error) error {
	return publicError(c.campaigns.Report(ctx, name, func(r campaigns.ReportRow) error { return fn(ReportRow(r)) }))
}

// RowCount is how many of a campaign's rows are in one state, with one
// reason.
type RowCount struct {
	// State is as in ReportRow; Reason is empty for a success and for
	// rows that have no outcome yet.
	State  string `json:"state"`
	Reason string `json:"reason"`
	N      int    `json:"rows"`
}

// rowCounts lists counts in the order of states, then reasons; nil for
// nil.
func rowCounts(counts map[campaigns.Tally]int) []RowCount {
	if counts == nil {
		return nil
	}
	out := make([]RowCount, 0, len(counts))
	for k, n := range counts {
		out = append(out, RowCount{State: k.State, Reason: k.Reason, N: n})
	}
	slices.SortFunc(out, func(a, b RowCount) int {
		return cmp.Or(cmp.Compare(campaigns.StateRank(a.State), campaigns.StateRank(b.State)),
			cmp.Compare(a.State, b.State), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

// CampaignReasons counts all the campaign's rows by state and reason, the
// rows still queued or waiting too, in the order of states, then reasons.
// It reads the counters a campaign keeps as its rows finish; for one an
// older build created, it reads every row.
func (c *Client) CampaignReasons(ctx context.Context, name string) ([]RowCount, error) {
	counts, err := c.campaigns.Reasons(ctx, name)
	if err != nil {
		return nil, publicError(err)
	}
	return rowCounts(counts), nil
}
