package producer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/deploysecret"
	"github.com/resetq/resetq/tasks"
)

// Campaign is a campaign's settings, state and counters.
type Campaign = campaigns.Campaign

// Scan is what reading a campaign's file found.
type Scan = campaigns.Scan

// ErrCampaignNotFound is returned for a name no campaign has.
var ErrCampaignNotFound = errors.New("campaign not found")

// ErrCampaignState is returned for a change the campaign's status does
// not allow (resuming a completed campaign).
var ErrCampaignState = errors.New("not possible in the campaign's status")

// ErrCampaignExists is returned when the name is taken by a campaign of
// another file.
var ErrCampaignExists = errors.New("campaign name taken")

// InvalidRowsError is returned by StartCampaign for a file with invalid
// rows when SkipInvalid is not set; Scan lists them.
type InvalidRowsError struct{ Scan *Scan }

func (e *InvalidRowsError) Error() string {
	return fmt.Sprintf("%d of %d rows are invalid (first on line %d); fix them, or start with skip-invalid to record them as failed",
		e.Scan.Invalid, e.Scan.Rows, firstInvalidLine(e.Scan))
}

// Unwrap makes the error an ErrInvalidRequest.
func (e *InvalidRowsError) Unwrap() error { return ErrInvalidRequest }

func firstInvalidLine(s *Scan) int {
	for _, p := range s.Problems {
		if p.Reason != campaigns.ReasonDuplicateRow {
			return p.Line
		}
	}
	return 0
}

// CampaignRequest asks for a campaign.
type CampaignRequest struct {
	// Name names the campaign ([a-z0-9-]); empty derives one from Source
	// and the file's digest, so the same file gets the same name.
	Name     string
	Provider string
	// Source is the file's name, kept for the record; Format defaults to
	// what its extension says (CSV unless .jsonl or .ndjson).
	Source string
	Format campaigns.Format
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
}

// CampaignStarted is what StartCampaign did.
type CampaignStarted struct {
	Campaign *Campaign
	Scan     *Scan
	// Resumed is true when the campaign existed (same name, same file):
	// nothing was imported, and no user is reset twice.
	Resumed bool
}

// Window bounds.
const (
	minWindow     = 50
	maxWindow     = 20000
	defaultWindow = 2000
)

func (c *Client) campaignProvider(req *CampaignRequest) (Provider, error) {
	prov, ok := c.providers[req.Provider]
	if !ok {
		return Provider{}, fmt.Errorf("%w: provider %q is not configured", ErrInvalidRequest, req.Provider)
	}
	for i, a := range req.Actions {
		if err := tasks.ValidateAction(a); err != nil {
			return Provider{}, fmt.Errorf("%w: actions[%d]: %v", ErrInvalidRequest, i, err)
		}
	}
	if req.Name != "" {
		if err := campaigns.ValidID(req.Name); err != nil {
			return Provider{}, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
		}
	}
	if req.RateN < 0 || (req.RateN > 0 && req.RatePer <= 0) {
		return Provider{}, fmt.Errorf("%w: rate must be a positive number per period", ErrInvalidRequest)
	}
	if req.RateN > 0 && req.Spread > 0 {
		return Provider{}, fmt.Errorf("%w: give a rate or a spread, not both", ErrInvalidRequest)
	}
	if req.Spread < 0 || req.Window < 0 {
		return Provider{}, fmt.Errorf("%w: spread and window cannot be negative", ErrInvalidRequest)
	}
	if req.Format == "" {
		req.Format = campaigns.FormatOf(req.Source)
	}
	return prov, nil
}

func (c *Client) readOptions(prov Provider, f campaigns.Format) campaigns.ReadOptions {
	return campaigns.ReadOptions{Format: f, EmailOnly: prov.emailOnly()}
}

// ScanCampaign reads a campaign's file as StartCampaign would and reports
// every row it would refuse or skip, storing nothing: a dry run.
func (c *Client) ScanCampaign(src io.Reader, req CampaignRequest) (*Scan, error) {
	_, s, err := c.scan(src, &req)
	return s, err
}

// scan checks the request and reads the file through once.
func (c *Client) scan(src io.Reader, req *CampaignRequest) (Provider, *Scan, error) {
	prov, err := c.campaignProvider(req)
	if err != nil {
		return prov, nil, err
	}
	o := c.readOptions(prov, req.Format)
	if rs, ok := src.(io.ReadSeeker); ok {
		// A quick count first sizes the scan's memory exactly.
		n, err := campaigns.CountLines(rs)
		if err == nil {
			_, err = rs.Seek(0, io.SeekStart)
		}
		if err != nil {
			return prov, nil, fmt.Errorf("reading %s: %w", displaySource(req.Source), err)
		}
		o.Rows = n
	}
	s, err := campaigns.ScanSource(src, o)
	if err != nil {
		return prov, nil, fmt.Errorf("%w: %s: %v", ErrInvalidRequest, displaySource(req.Source), err)
	}
	return prov, s, nil
}

func displaySource(s string) string {
	if s == "" || s == "-" {
		return "input"
	}
	return s
}

// StartCampaign imports a file and starts a campaign over its users. The
// file is read twice (a check, then the import), so it must be seekable;
// it is stored in Redis, and the feeders in the workers do the rest. A
// campaign of the same name and file resumes instead: nobody is reset
// twice.
func (c *Client) StartCampaign(ctx context.Context, src io.ReadSeeker, req CampaignRequest) (*CampaignStarted, error) {
	prov, scan, err := c.scan(src, &req)
	if err != nil {
		return nil, err
	}
	if scan.Invalid > 0 && !req.SkipInvalid {
		return nil, &InvalidRowsError{Scan: scan}
	}
	if req.Name == "" {
		req.Name = DefaultCampaignName(req.Source, scan.Digest)
	}
	name, existing, err := c.pickName(ctx, req, scan.Digest)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return &CampaignStarted{Campaign: existing, Scan: scan, Resumed: true}, nil
	}

	// The import holds the campaign's lease from before it exists, so no
	// other start takes it for abandoned.
	owner := "import-" + randomHex(8)
	if ok, err := c.campaigns.Lease(ctx, name, owner, importLease); err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%w: %s is being created by another process", ErrCampaignExists, name)
		}
		return nil, err
	}
	defer func() { _ = c.campaigns.Release(context.WithoutCancel(ctx), name, owner) }()

	now := time.Now().UTC()
	camp := &Campaign{
		ID: name, Provider: prov.Name, Actions: req.Actions, Source: filepath.Base(req.Source), Digest: scan.Digest,
		Status: campaigns.Importing, Rows: scan.Rows, RateN: req.RateN, RatePer: req.RatePer,
		CreatedAt: now, StartAt: req.StartAt.UTC(), Window: req.Window, KeyedTaskIDs: true,
	}
	if req.Spread > 0 && scan.Users() > 0 {
		camp.RateN, camp.RatePer = scan.Users(), req.Spread
	}
	if camp.Window == 0 {
		camp.Window = defaultWindowFor(camp, prov)
	}
	if err := c.campaigns.Create(ctx, camp); err != nil {
		if errors.Is(err, campaigns.ErrExists) {
			return nil, fmt.Errorf("%w: %s is being created by another process", ErrCampaignExists, name)
		}
		return nil, err
	}
	if err := c.importRows(ctx, src, camp, owner, prov, req.Format, scan); err != nil {
		// Nothing was fed: the half-imported campaign can go.
		_ = c.campaigns.Delete(context.WithoutCancel(ctx), camp)
		return nil, err
	}
	to := campaigns.Running
	if camp.StartAt.After(time.Now()) {
		to = campaigns.Scheduled
	}
	if _, err := c.campaigns.SetStatus(ctx, name, []campaigns.Status{campaigns.Importing}, to); err != nil {
		return nil, err
	}
	got, err := c.campaigns.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return &CampaignStarted{Campaign: got, Scan: scan}, nil
}

// defaultWindowFor sizes a campaign's window to two minutes of its pace:
// enough that workers never wait for the feeder, small enough that a
// million-user campaign never puts a million tasks in Redis.
func defaultWindowFor(c *Campaign, prov Provider) int {
	rate := c.Rate()
	if prov.RateCount > 0 && prov.RatePeriod > 0 {
		pr := float64(prov.RateCount) / prov.RatePeriod.Seconds()
		if rate == 0 || pr < rate {
			rate = pr
		}
	}
	if rate == 0 {
		return defaultWindow
	}
	return min(max(int(math.Ceil(rate*120)), minWindow), maxWindow)
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// DefaultCampaignName names a campaign after its file and the file's
// digest: the same file gives the same name, so starting it again resumes
// it.
func DefaultCampaignName(source, digest string) string {
	base := strings.TrimSuffix(filepath.Base(source), filepath.Ext(source))
	base = strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(base), "-"), "-")
	if base == "" {
		base = "campaign"
	}
	return base[:min(len(base), 40)] + "-" + digest[:8]
}

// pickName decides what a start does with an existing campaign of the
// name: resume it (same file), refuse (another file), or, with ForceNew,
// find the next free name. An import that died half way is removed.
func (c *Client) pickName(ctx context.Context, req CampaignRequest, digest string) (string, *Campaign, error) {
	name := req.Name
	for n := 2; ; n++ {
		got, err := c.campaigns.Get(ctx, name)
		if err != nil {
			return "", nil, err
		}
		switch {
		case got == nil:
			return name, nil, nil
		case got.Status == campaigns.Importing && c.abandoned(ctx, got):
			if err := c.campaigns.Delete(ctx, got); err != nil {
				return "", nil, err
			}
			return name, nil, nil
		case req.ForceNew:
			name = fmt.Sprintf("%s-%d", req.Name, n)
			if len(name) > tasks.MaxNameLen {
				return "", nil, fmt.Errorf("%w: no free name like %s", ErrInvalidRequest, req.Name)
			}
		case got.Digest == digest && got.Provider == req.Provider:
			return name, got, nil
		default:
			return "", nil, fmt.Errorf("%w: %s was started on %s from another file (%s, digest %s…); choose another name, or use force-new",
				ErrCampaignExists, name, got.CreatedAt.Format(time.RFC3339), got.Source, got.Digest[:min(12, len(got.Digest))])
		}
	}
}

// importLease is how long an import holds its campaign without renewing.
const importLease = 30 * time.Second

// abandoned reports whether an importing campaign has nobody importing it.
func (c *Client) abandoned(ctx context.Context, camp *Campaign) bool {
	held, err := c.campaigns.Leased(ctx, camp.ID)
	return err == nil && !held
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// importRows stores the file's rows and gives duplicate and invalid rows
// their outcome. Memory stays at one chunk of rows whatever the file.
func (c *Client) importRows(ctx context.Context, src io.ReadSeeker, camp *Campaign, owner string, prov Provider, f campaigns.Format, scan *Scan) error {
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewinding %s: %w", displaySource(camp.Source), err)
	}
	var (
		chunk   = make([]campaigns.Row, 0, campaigns.ChunkRows)
		n, idx  int
		invalid []int
	)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if err := c.campaigns.WriteChunk(ctx, camp.ID, n, chunk); err != nil {
			return fmt.Errorf("storing rows of campaign %s: %w", camp.ID, err)
		}
		if _, err := c.campaigns.Lease(ctx, camp.ID, owner, importLease); err != nil {
			return err
		}
		n++
		chunk = chunk[:0]
		return nil
	}
	digest, err := campaigns.Read(src, c.readOptions(prov, f), func(r campaigns.Row, p *campaigns.Problem) error {
		if p != nil {
			invalid = append(invalid, idx)
		}
		idx++
		chunk = append(chunk, r)
		if len(chunk) == campaigns.ChunkRows {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	if digest != scan.Digest || idx != scan.Rows {
		return fmt.Errorf("%w: %s changed while it was being imported; start again", ErrInvalidRequest, displaySource(camp.Source))
	}
	now := time.Now()
	if _, err := c.campaigns.Premark(ctx, camp, scan.DuplicateRows(), campaigns.Record{
		Outcome: tasks.Skipped, Reason: campaigns.ReasonDuplicateRow, Finished: now}); err != nil {
		return err
	}
	_, err = c.campaigns.Premark(ctx, camp, invalid, campaigns.Record{
		Outcome: tasks.Failed, Reason: campaigns.ReasonInvalidRow, Finished: now})
	return err
}

// GetCampaign returns a campaign by name.
func (c *Client) GetCampaign(ctx context.Context, name string) (*Campaign, error) {
	if err := campaigns.ValidID(name); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	got, err := c.campaigns.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if got == nil {
		return nil, fmt.Errorf("%w: %s (unknown, or finished longer ago than campaigns are kept)", ErrCampaignNotFound, name)
	}
	return got, nil
}

// Campaigns lists every campaign, newest first.
func (c *Client) Campaigns(ctx context.Context) ([]*Campaign, error) { return c.campaigns.List(ctx) }

// PauseCampaign stops a campaign from sending more resets: the tasks
// waiting in the queue are taken back (resets already with the IdP finish).
// Pausing a paused campaign does nothing.
func (c *Client) PauseCampaign(ctx context.Context, name string) (*Campaign, error) {
	camp, err := c.GetCampaign(ctx, name)
	if err != nil {
		return nil, err
	}
	if camp.Status != campaigns.Paused {
		ok, err := c.campaigns.SetStatus(ctx, name, []campaigns.Status{campaigns.Running, campaigns.Scheduled}, campaigns.Paused)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, c.stateError(ctx, name, "pause")
		}
	}
	if err := c.withdrawQueued(ctx, camp, false); err != nil {
		return nil, err
	}
	return c.GetCampaign(ctx, name)
}

// ResumeCampaign lets a paused campaign go on where it stopped.
func (c *Client) ResumeCampaign(ctx context.Context, name string) (*Campaign, error) {
	camp, err := c.GetCampaign(ctx, name)
	if err != nil {
		return nil, err
	}
	if camp.Status == campaigns.Running || camp.Status == campaigns.Scheduled {
		return camp, nil
	}
	to := campaigns.Running
	if camp.StartAt.After(time.Now()) {
		to = campaigns.Scheduled
	}
	ok, err := c.campaigns.SetStatus(ctx, name, []campaigns.Status{campaigns.Paused}, to)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, c.stateError(ctx, name, "resume")
	}
	return c.GetCampaign(ctx, name)
}

// CancelCampaign ends a campaign: every user not yet sent to the IdP ends
// cancelled (resets already with the IdP finish). Cancelling a cancelled
// campaign does nothing new.
func (c *Client) CancelCampaign(ctx context.Context, name string) (*Campaign, error) {
	camp, err := c.GetCampaign(ctx, name)
	if err != nil {
		return nil, err
	}
	if camp.Status != campaigns.Cancelled {
		ok, err := c.campaigns.SetStatus(ctx, name,
			[]campaigns.Status{campaigns.Running, campaigns.Scheduled, campaigns.Paused}, campaigns.Cancelled)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, c.stateError(ctx, name, "cancel")
		}
	}
	if _, err := c.campaigns.CancelWaiting(ctx, camp); err != nil {
		return nil, err
	}
	if err := c.withdrawQueued(ctx, camp, true); err != nil {
		return nil, err
	}
	return c.GetCampaign(ctx, name)
}

func (c *Client) stateError(ctx context.Context, name, verb string) error {
	camp, err := c.GetCampaign(ctx, name)
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: cannot %s campaign %s, which is %s", ErrCampaignState, verb, name, camp.Status)
}

// withdrawQueued takes the campaign's tasks that wait in the queue back:
// their rows return to waiting, or end cancelled. A task a worker has
// started is left to finish.
func (c *Client) withdrawQueued(ctx context.Context, camp *Campaign, cancel bool) error {
	return c.eachQueued(ctx, camp, func(row int, taskID string) error {
		err := c.insp.DeleteTask(tasks.CampaignQueueName(camp.Provider), taskID)
		switch {
		case err == nil, errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			// Gone, or deleted now: a task that finished has recorded its
			// outcome first, which Withdraw leaves alone.
			_, err = c.campaigns.Withdraw(ctx, camp, row, cancel)
			return err
		}
		return nil // active: it finishes, or sees the new status itself
	})
}

// eachQueued calls fn for every row of the campaign that is fed and has no
// outcome, with its task's ID.
func (c *Client) eachQueued(ctx context.Context, camp *Campaign, fn func(row int, taskID string) error) error {
	taskID, err := c.campaignTaskIDs(ctx, camp)
	if err != nil {
		return err
	}
	for from := 0; from < camp.Rows; from += campaigns.ChunkRows {
		n := min(campaigns.ChunkRows, camp.Rows-from)
		fed, err := c.campaigns.Fed(ctx, camp, from, n)
		if err != nil {
			return err
		}
		if !slices.Contains(fed, true) {
			continue
		}
		recs, err := c.campaigns.Outcomes(ctx, camp, from, n)
		if err != nil {
			return err
		}
		var rows []campaigns.Row
		for i := range n {
			if !fed[i] || recs[i].Outcome != "" {
				continue
			}
			if rows == nil {
				if rows, err = c.campaigns.Chunk(ctx, camp.ID, from/campaigns.ChunkRows); err != nil {
					return err
				}
			}
			if err := fn(from+i, taskID(rows[i].User)); err != nil {
				return err
			}
		}
	}
	return nil
}

// campaignTaskIDs returns what names the task of a user's row in camp.
func (c *Client) campaignTaskIDs(ctx context.Context, camp *Campaign) (func(tasks.User) string, error) {
	if !camp.KeyedTaskIDs {
		return func(u tasks.User) string { return tasks.LegacyCampaignTaskID(camp.Provider, camp.ID, u) }, nil
	}
	secret, err := c.secret.Get(ctx)
	if err != nil {
		return nil, err
	}
	key := deploysecret.Derive(secret, deploysecret.TaskIDs)
	return func(u tasks.User) string { return tasks.CampaignTaskID(key, camp.Provider, camp.ID, u) }, nil
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
}

// CampaignReport calls fn for every row of the campaign, in file order.
func (c *Client) CampaignReport(ctx context.Context, name string, fn func(ReportRow) error) error {
	camp, err := c.GetCampaign(ctx, name)
	if err != nil {
		return err
	}
	for n := 0; n*campaigns.ChunkRows < camp.Rows; n++ {
		rows, err := c.campaigns.Chunk(ctx, camp.ID, n)
		if err != nil {
			return err
		}
		from := n * campaigns.ChunkRows
		recs, err := c.campaigns.Outcomes(ctx, camp, from, len(rows))
		if err != nil {
			return err
		}
		fed, err := c.campaigns.Fed(ctx, camp, from, len(rows))
		if err != nil {
			return err
		}
		for i, r := range rows {
			out := ReportRow{Line: r.Line, User: r.User, Invalid: r.Invalid, State: "waiting"}
			switch rec := recs[i]; {
			case rec.Outcome != "":
				out.State, out.Reason, out.Attempts, out.Finished = string(rec.Outcome), rec.Reason, rec.Attempts, rec.Finished
			case fed[i]:
				out.State = "queued"
			}
			if err := fn(out); err != nil {
				return err
			}
		}
	}
	return nil
}
