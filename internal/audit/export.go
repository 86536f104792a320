package audit

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/resetq/resetq/internal/csvsafe"
	"github.com/resetq/resetq/tasks"
)

// Format is an export's format.
type Format string

// Export formats.
const (
	// JSONL is one JSON object per line, a Record each.
	JSONL Format = "jsonl"
	// CSV has a header row (Header) and a row per record.
	CSV Format = "csv"
)

// ParseFormat reads an export format; "" is JSONL.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case "", JSONL:
		return JSONL, nil
	case CSV:
		return CSV, nil
	}
	return "", fmt.Errorf("must be jsonl or csv, not %q", s)
}

// Header is the CSV export's header row: Record's fields, by their JSON
// names, in this order.
var Header = []string{"id", "time", "actor", "address", "action", "target", "result", "reason",
	"task_id", "provider", "campaign", "user"}

// Writer writes records in one format. Flush it at the end.
type Writer struct {
	format Format
	bw     *bufio.Writer
	enc    *json.Encoder
	cw     *csv.Writer
	header bool
}

// NewWriter returns a Writer of format to w (JSON lines for any format
// but CSV: ParseFormat checks what a user gives).
func NewWriter(w io.Writer, format Format) *Writer {
	bw := bufio.NewWriterSize(w, 32<<10)
	out := &Writer{format: format, bw: bw}
	if format == CSV {
		out.cw = csv.NewWriter(bw)
	} else {
		out.enc = json.NewEncoder(bw)
		out.enc.SetEscapeHTML(false)
	}
	return out
}

// Write writes one record.
func (w *Writer) Write(r Record) error {
	if w.cw == nil {
		return w.enc.Encode(r)
	}
	if err := w.writeHeader(); err != nil {
		return err
	}
	return w.cw.Write([]string{r.ID, r.Time.UTC().Format(time.RFC3339Nano),
		csvsafe.Cell(r.Actor), csvsafe.Cell(r.Address), csvsafe.Cell(r.Action), csvsafe.Cell(r.Target), csvsafe.Cell(r.Result),
		csvsafe.Cell(r.Reason), csvsafe.Cell(r.TaskID), csvsafe.Cell(r.Provider), csvsafe.Cell(r.Campaign), csvsafe.Cell(r.User)})
}

func (w *Writer) writeHeader() error {
	if w.header {
		return nil
	}
	w.header = true
	return w.cw.Write(Header)
}

// Flush writes what is buffered; a CSV export without records is its
// header.
func (w *Writer) Flush() error {
	if w.cw != nil {
		if err := w.writeHeader(); err != nil {
			return err
		}
		w.cw.Flush()
		if err := w.cw.Error(); err != nil {
			return err
		}
	}
	return w.bw.Flush()
}

// Export writes every record f selects to w, oldest first, streaming.
// Nothing reaches w before the first records are read, so a trail that
// cannot be read at all fails before anything is written. The export is
// itself kept in the trail (an "audit.export" record after the last one
// it wrote), in the name of who acts for ctx (see WithActor).
func (t *Trail) Export(ctx context.Context, w io.Writer, format Format, f Filter) error {
	if format != JSONL && format != CSV {
		return fmt.Errorf("audit: export format %q (known: jsonl, csv)", format)
	}
	ew := NewWriter(w, format)
	n := 0
	err := t.Query(ctx, f, func(r Record) error {
		n++
		return ew.Write(r)
	})
	if err == nil {
		err = ew.Flush()
	}
	who := ActorOf(ctx, tasks.Requester{Actor: "unknown"})
	rec := Record{Actor: who.Actor, Address: who.Address, Action: "audit.export", Target: "audit", Result: "ok",
		Reason: fmt.Sprintf("%d record(s) as %s, %s", n, format, f)}
	if err != nil {
		rec.Result, rec.Reason = "failed", err.Error()
	}
	if aerr := t.Append(context.WithoutCancel(ctx), rec); aerr != nil && err == nil {
		err = aerr
	}
	return err
}

// ReadJSONL reads a JSON-lines export and calls fn with each record.
// Unknown fields are an error: the export is read back as it was written.
func ReadJSONL(r io.Reader, fn func(Record) error) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	for n := 1; ; n++ {
		var rec Record
		err := dec.Decode(&rec)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit: record %d: %w", n, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// DefaultSince is how far back an export starts when not told.
const DefaultSince = "24h"

// InputError is a since or until an export cannot use.
type InputError struct {
	// Name is "since" or "until"; the command line calls them --since and
	// --until.
	Name    string
	Value   string
	Problem string
}

func (e *InputError) Error() string { return fmt.Sprintf("%s %q: %s", e.Name, e.Value, e.Problem) }

// ParseFilter reads an export's filter as the command line's flags and
// the API's query parameters give it. since and until are RFC 3339 times
// or durations back from now ("90m", "24h", "7d"); since defaults to
// DefaultSince ago and until to now.
func ParseFilter(since, until, actor, action string, now time.Time) (Filter, error) {
	if since == "" {
		since = DefaultSince
	}
	f := Filter{Actor: actor, Action: action, Until: now}
	for _, p := range []struct {
		name, value string
		dst         *time.Time
	}{{"since", since, &f.Since}, {"until", until, &f.Until}} {
		if p.value == "" {
			continue
		}
		t, err := ParseTime(p.value, now)
		if err != nil {
			return f, &InputError{Name: p.name, Value: p.value, Problem: err.Error()}
		}
		*p.dst = t
	}
	if !f.Since.Before(f.Until) {
		return f, &InputError{Name: "since", Value: since, Problem: fmt.Sprintf("must be before until (%s)",
			f.Until.UTC().Format(time.RFC3339))}
	}
	return f, nil
}

// ParseTime reads an RFC 3339 time ("2026-11-22T18:00:00Z") or a duration
// back from now: Go's ("90m", "24h") or whole days ("7d").
func ParseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		if err == nil && (n < 0 || n > 100*366) {
			err = errors.New("out of range")
		}
		d = time.Duration(n) * 24 * time.Hour
	}
	if err != nil || d < 0 {
		return time.Time{}, errors.New("must be an RFC 3339 time (2026-11-22T18:00:00Z) or a duration back from now (24h, 7d)")
	}
	return now.Add(-d), nil
}

// String says what a filter selects, for the export's own record.
func (f Filter) String() string {
	parts := []string{"since " + timeOrAny(f.Since), "until " + timeOrAny(f.Until)}
	if f.Actor != "" {
		parts = append(parts, "actor "+f.Actor)
	}
	if f.Action != "" {
		parts = append(parts, "action "+f.Action)
	}
	return strings.Join(parts, ", ")
}

func timeOrAny(t time.Time) string {
	if t.IsZero() {
		return "any time"
	}
	return t.UTC().Format(time.RFC3339)
}
