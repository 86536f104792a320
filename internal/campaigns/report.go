package campaigns

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/resetq/resetq/internal/csvsafe"
	"github.com/resetq/resetq/tasks"
)

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

// Report calls fn for every row of the campaign, in file order.
func (m *Manager) Report(ctx context.Context, name string, fn func(ReportRow) error) error {
	camp, err := m.Get(ctx, name)
	if err != nil {
		return err
	}
	for n := 0; n*ChunkRows < camp.Rows; n++ {
		rows, err := m.store.Chunk(ctx, camp, n)
		if err != nil {
			return err
		}
		from := n * ChunkRows
		recs, err := m.store.Outcomes(ctx, camp, from, len(rows))
		if err != nil {
			return err
		}
		fed, err := m.store.Fed(ctx, camp, from, len(rows))
		if err != nil {
			return err
		}
		for i, r := range rows {
			out := ReportRow{Line: r.Line, User: r.User, Invalid: r.Invalid, State: "waiting", Requester: camp.Requester.String()}
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

// Reasons counts the campaign's rows by state and reason: from the
// counters the campaign keeps, at the cost of one read, or for a campaign
// an older build created, from its every row.
func (m *Manager) Reasons(ctx context.Context, name string) (map[Tally]int, error) {
	camp, err := m.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if camp.ByReason == nil {
		counts := map[Tally]int{}
		err := m.Report(ctx, name, func(r ReportRow) error {
			counts[Tally{r.State, r.Reason}]++
			return nil
		})
		return counts, err
	}
	counts := maps.Clone(camp.ByReason)
	for state, n := range map[string]int{"waiting": camp.Waiting(), "queued": camp.Inflight} {
		if n > 0 {
			counts[Tally{State: state}] = n
		}
	}
	return counts, nil
}

// ReportFormats are the formats WriteReport writes.
var ReportFormats = []string{"csv", "json"}

// reportRow is one row as a JSON report writes it.
type reportRow struct {
	Line       int         `json:"line"`
	User       *tasks.User `json:"user,omitempty"`
	Invalid    string      `json:"invalid,omitempty"`
	State      string      `json:"state"`
	Reason     string      `json:"reason"`
	Attempts   int         `json:"attempts"`
	FinishedAt time.Time   `json:"finished_at,omitzero"`
	Requester  string      `json:"requester"`
}

// ReportHeader is the CSV report's header row.
var ReportHeader = []string{"line", "user_kind", "user", "state", "reason", "attempts", "finished_at", "requester"}

// WriteReport writes every row of a campaign whose state is in states (all
// when empty), in file order, as CSV or as a JSON array. It streams: a
// million rows never sit in memory.
func (m *Manager) WriteReport(ctx context.Context, name, format string, states []string, w io.Writer) error {
	if !slices.Contains(ReportFormats, format) {
		return fmt.Errorf("%w: report format %q (known: %s)", ErrInvalid, format, strings.Join(ReportFormats, ", "))
	}
	if _, err := m.Get(ctx, name); err != nil {
		return err
	}
	keep := func(r ReportRow) bool { return len(states) == 0 || slices.Contains(states, r.State) }
	if format == "csv" {
		cw := csv.NewWriter(w)
		if err := cw.Write(ReportHeader); err != nil {
			return err
		}
		err := m.Report(ctx, name, func(r ReportRow) error {
			if !keep(r) {
				return nil
			}
			kind, user := r.User.Kind(), r.User.Value()
			if r.Invalid != "" {
				kind, user = "invalid", r.Invalid
			}
			finished := ""
			if !r.Finished.IsZero() {
				finished = r.Finished.UTC().Format(time.RFC3339)
			}
			return cw.Write([]string{strconv.Itoa(r.Line), kind, csvsafe.Cell(user), r.State, r.Reason, strconv.Itoa(r.Attempts), finished,
				csvsafe.Cell(r.Requester)})
		})
		cw.Flush()
		if err != nil {
			return err
		}
		return cw.Error()
	}
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	first := true
	err := m.Report(ctx, name, func(r ReportRow) error {
		if !keep(r) {
			return nil
		}
		out := reportRow{Line: r.Line, Invalid: r.Invalid, State: r.State, Reason: r.Reason, Attempts: r.Attempts,
			FinishedAt: r.Finished.UTC(), Requester: r.Requester}
		if r.Finished.IsZero() {
			out.FinishedAt = time.Time{}
		}
		if r.Invalid == "" {
			u := r.User
			out.User = &u
		}
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		sep := ",\n"
		if first {
			sep, first = "\n", false
		}
		_, err = io.WriteString(w, sep+string(b))
		return err
	})
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n]\n")
	return err
}
