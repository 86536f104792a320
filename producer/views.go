package producer

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/resetq/resetq/tasks"
)

// CampaignView is a campaign as the HTTP API and `resetq campaign …
// --output json` show it.
type CampaignView struct {
	Name     string   `json:"name"`
	Provider string   `json:"provider"`
	Status   string   `json:"status"`
	Source   string   `json:"source"`
	Digest   string   `json:"digest"`
	Actions  []string `json:"actions"`
	// Rows counts every row of the file; Totals splits them by state:
	// waiting, queued, succeeded, skipped, failed, cancelled.
	Rows   int            `json:"rows"`
	Totals map[string]int `json:"totals"`
	// RatePerSecond is the campaign's own pace (0: only the provider's
	// rate limit applies).
	RatePerSecond float64   `json:"rate_per_second"`
	Window        int       `json:"window"`
	CreatedAt     time.Time `json:"created_at"`
	StartAt       time.Time `json:"start_at,omitzero"`
	StartedAt     time.Time `json:"started_at,omitzero"`
	FinishedAt    time.Time `json:"finished_at,omitzero"`
	// StartedBy is who started it (absent for a campaign an older build
	// started).
	StartedBy *tasks.Requester `json:"started_by,omitempty"`
	// Reasons counts the rows with an outcome by outcome and reason
	// (absent for a campaign an older build created).
	Reasons []RowCount `json:"reasons,omitempty"`
}

// ViewOf returns the view of a campaign.
func ViewOf(c *Campaign) CampaignView {
	actions := c.Actions
	if actions == nil {
		actions = []string{}
	}
	v := CampaignView{Name: c.ID, Provider: c.Provider, Status: string(c.Status), Source: c.Source, Digest: c.Digest,
		Actions: actions, Rows: c.Rows, Totals: c.Totals(), RatePerSecond: c.Rate(), Window: c.Window,
		CreatedAt: c.CreatedAt, StartAt: c.StartAt, StartedAt: c.StartedAt, FinishedAt: c.FinishedAt, Reasons: c.Reasons}
	if c.StartedBy.Actor != "" {
		v.StartedBy = &c.StartedBy
	}
	return v
}

// ScanView is a dry run's findings.
type ScanView struct {
	Digest string `json:"digest"`
	// Rows counts every row; Users the resets the campaign would send.
	Rows       int            `json:"rows"`
	Users      int            `json:"users"`
	Duplicates int            `json:"duplicates"`
	Invalid    int            `json:"invalid"`
	Reasons    map[string]int `json:"reasons"`
	// Problems lists invalid and duplicate rows by line: the first 1000
	// (Truncated says there are more).
	Problems  []Problem `json:"problems"`
	Truncated bool      `json:"truncated"`
}

// ScanViewOf returns the view of a scan.
func ScanViewOf(s *Scan) ScanView {
	problems := s.Problems
	if problems == nil {
		problems = []Problem{}
	}
	return ScanView{Digest: s.Digest, Rows: s.Rows, Users: s.Users(), Duplicates: s.Duplicates, Invalid: s.Invalid,
		Reasons: s.Reasons, Problems: problems, Truncated: len(s.Problems) < s.Invalid+s.Duplicates}
}

// ReportFormats are the formats WriteReport writes.
var ReportFormats = []string{"csv", "json"}

// ReportStates are the states a report can be filtered on.
var ReportStates = []string{"waiting", "queued", "succeeded", "skipped", "failed", "cancelled"}

// ReportHeader is the CSV report's header row.
var ReportHeader = []string{"line", "user_kind", "user", "state", "reason", "attempts", "finished_at", "requester"}

// ParseStates reads a comma-separated list of report states ("" is all).
func ParseStates(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for _, st := range strings.Split(s, ",") {
		st = strings.TrimSpace(st)
		if !slices.Contains(ReportStates, st) {
			return nil, fmt.Errorf("%w: %q is not a row state (known: %s)", ErrInvalidRequest, st, strings.Join(ReportStates, ", "))
		}
		out = append(out, st)
	}
	return out, nil
}

// WriteReport writes every row of a campaign whose state is in states (all
// when empty), in file order, as CSV or as a JSON array. It streams: a
// million rows never sit in memory.
//
// A report names every user: who read it is kept in the audit trail.
func (c *Client) WriteReport(ctx context.Context, name, format string, states []string, w io.Writer) error {
	err := c.campaigns.WriteReport(ctx, name, format, states, w)
	c.recordCampaign(ctx, "campaign.report", name, "", err)
	return publicError(err)
}

// ParseStartAt reads when a campaign starts: an RFC 3339 time, or a
// duration from now ("2h", "90m"). Empty means now.
func ParseStartAt(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%w: start_at %q is in the past", ErrInvalidRequest, s)
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: start_at %q must be an RFC 3339 time (2026-11-22T18:00:00Z) or a duration from now (2h)", ErrInvalidRequest, s)
	}
	return t, nil
}
