package campaigns

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/resetq/resetq/tasks"
)

// Format is a source file's format.
type Format string

// Formats.
const (
	CSV   Format = "csv"
	JSONL Format = "jsonl"
)

// FormatOf guesses a file's format from its name: .jsonl and .ndjson are
// JSON lines, anything else CSV.
func FormatOf(name string) Format {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jsonl", ".ndjson":
		return JSONL
	}
	return CSV
}

// Problem is a row that cannot be reset as it is.
type Problem struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"` // invalid_user, no_user, malformed, duplicate_row
	Detail string `json:"detail"`
}

// Scan is what reading a source found.
type Scan struct {
	// Rows counts every row, Valid those that name one user correctly.
	Rows, Valid int
	// Duplicates counts valid rows naming a user an earlier row names.
	Duplicates int
	// Problems lists invalid and duplicate rows (the first 1000).
	Problems []Problem
	// Invalid counts all invalid rows, listed or not.
	Invalid int
	// Reasons counts every problem, listed or not, by reason.
	Reasons map[string]int
	// Digest is the SHA-256 of the file.
	Digest string
	// dups holds the indexes of duplicate rows, in order.
	dups []int32
}

// Users counts the distinct users: the resets the campaign will send.
func (s *Scan) Users() int { return s.Valid - s.Duplicates }

// Duplicate reports whether row idx (0-based, in file order) repeats an
// earlier row's user.
func (s *Scan) Duplicate(idx int) bool {
	_, found := slices.BinarySearch(s.dups, int32(idx))
	return found
}

// DuplicateRows lists the duplicate rows' indexes.
func (s *Scan) DuplicateRows() []int {
	out := make([]int, len(s.dups))
	for i, d := range s.dups {
		out[i] = int(d)
	}
	return out
}

// maxProblems bounds the problems a scan keeps; the counts go on.
const maxProblems = 1000

// ReadOptions shape how rows are read.
type ReadOptions struct {
	Format Format
	// EmailOnly is set for providers that reset by email only (Keygen):
	// the email column names the user and a row without one is invalid.
	EmailOnly bool
	// Rows, when known, is about how many rows there are: a scan sizes
	// its memory by it.
	Rows int
}

// userColumns are the columns that name a user, in order of preference:
// an IdP id is exact, an email is what people have.
var userColumns = []string{"id", "email", "username"}

// Read parses a source, streaming: rows are handed to fn one at a time, in
// file order, and never held. An invalid row reaches fn with its problem
// and Invalid set. Read returns the SHA-256 of everything it read; an error
// from fn stops it.
func Read(r io.Reader, o ReadOptions, fn func(Row, *Problem) error) (digest string, err error) {
	h := sha256.New()
	r = io.TeeReader(r, h)
	switch o.Format {
	case JSONL:
		err = readJSONL(r, o, fn)
	default:
		err = readCSV(r, o, fn)
	}
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, r) // the digest covers the whole file
	return hex.EncodeToString(h.Sum(nil)), nil
}

func pickUser(o ReadOptions, get func(col string) string) (tasks.User, *Problem) {
	cols := userColumns
	if o.EmailOnly {
		cols = []string{"email"}
	}
	for _, c := range cols {
		v := strings.TrimSpace(get(c))
		if v == "" {
			continue
		}
		var u tasks.User
		switch c {
		case "id":
			u.ID = v
		case "email":
			u.Email = v
		case "username":
			u.Username = v
		}
		if err := u.Validate(); err != nil {
			return tasks.User{}, &Problem{Reason: "invalid_user", Detail: err.Error()}
		}
		return u, nil
	}
	return tasks.User{}, &Problem{Reason: "no_user", Detail: "no " + strings.Join(cols, ", ") + " on this row"}
}

func checkMeta(meta map[string]string) *Problem {
	if err := tasks.ValidateMeta(meta); err != nil {
		return &Problem{Reason: "invalid_meta", Detail: err.Error()}
	}
	return nil
}

func readCSV(r io.Reader, o ReadOptions, fn func(Row, *Problem) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3) // a UTF-8 byte order mark
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return errors.New("the file is empty: it needs a header row and at least one row")
	}
	if err != nil {
		return fmt.Errorf("line 1: the header row cannot be read: %w", err)
	}
	cols := map[string]int{}
	names := make([]string, len(header))
	for i, h := range header {
		names[i] = strings.ToLower(strings.TrimSpace(h))
		if _, dup := cols[names[i]]; dup && names[i] != "" {
			return fmt.Errorf("line 1: column %q appears twice", names[i])
		}
		cols[names[i]] = i
	}
	want := userColumns
	if o.EmailOnly {
		want = []string{"email"}
	}
	if !slices.ContainsFunc(want, func(c string) bool { _, ok := cols[c]; return ok }) {
		return fmt.Errorf("line 1: the header has no %s column (it has: %s)", strings.Join(want, ", "), strings.Join(names, ", "))
	}
	if n := len(names) - 1; n > tasks.MaxMetaEntries+len(userColumns) {
		return fmt.Errorf("line 1: %d columns; at most %d besides the user's are carried as meta", n, tasks.MaxMetaEntries)
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			detail := pe.Err.Error()
			if errors.Is(err, csv.ErrFieldCount) {
				detail = fmt.Sprintf("%d fields where the header has %d (an unquoted comma?)", len(rec), len(names))
			}
			if err := fn(Row{Line: pe.StartLine, Invalid: "unreadable"}, &Problem{Line: pe.StartLine, Reason: "malformed", Detail: detail}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		line, _ := cr.FieldPos(0)
		get := func(c string) string {
			if i, ok := cols[c]; ok && i < len(rec) {
				return rec[i]
			}
			return ""
		}
		meta := func() map[string]string {
			var m map[string]string
			for i, name := range names {
				if slices.Contains(userColumns, name) || name == "" || i >= len(rec) || rec[i] == "" {
					continue
				}
				if m == nil {
					m = map[string]string{}
				}
				m[name] = rec[i]
			}
			return m
		}
		if err := fn(readRow(line, o, get, meta)); err != nil {
			return err
		}
	}
}

// readRow makes a row of a source's line: its user and meta, or, when
// either is wrong, the problem and what the line names instead. meta is
// only read for a line with a user.
func readRow(line int, o ReadOptions, get func(string) string, meta func() map[string]string) (Row, *Problem) {
	row := Row{Line: line}
	u, prob := pickUser(o, get)
	if prob == nil {
		row.Meta = meta()
		prob = checkMeta(row.Meta)
	}
	if prob != nil {
		prob.Line = line
		row.Invalid = firstNonEmpty(get("id"), get("email"), get("username"))
		row.Meta = nil
	} else {
		row.User = u
	}
	return row, prob
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s = strings.TrimSpace(s); s != "" {
			if len(s) > 100 {
				s = strings.ToValidUTF8(s[:100], "") // not inside a character
			}
			return s
		}
	}
	return ""
}

func readJSONL(r io.Reader, o ReadOptions, fn func(Row, *Problem) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		text, long, err := readLine(br, maxJSONLine)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if errors.Is(err, io.EOF) && len(text) == 0 && !long {
			return nil
		}
		text = bytes.TrimSpace(text)
		if len(text) == 0 && !long {
			continue
		}
		var obj map[string]any
		detail := ""
		switch {
		case long:
			detail = fmt.Sprintf("longer than %d KiB", maxJSONLine>>10)
		case !utf8.Valid(text):
			detail = "not valid UTF-8"
		case json.Unmarshal(text, &obj) != nil || obj == nil:
			detail = "not a JSON object"
		}
		if detail != "" {
			if err := fn(Row{Line: line, Invalid: "unreadable"}, &Problem{Line: line, Reason: "malformed", Detail: detail}); err != nil {
				return err
			}
			continue
		}
		get := func(c string) string {
			if s, ok := obj[c].(string); ok {
				return s
			}
			return ""
		}
		meta := func() map[string]string {
			// Other keys are meta, as is the content of a "meta" object.
			fields := obj
			if m, ok := obj["meta"].(map[string]any); ok {
				fields = maps.Clone(obj)
				delete(fields, "meta")
				maps.Copy(fields, m)
			}
			var meta map[string]string
			for k, v := range fields {
				if slices.Contains(userColumns, k) || v == nil {
					continue
				}
				s, ok := v.(string)
				if !ok {
					b, _ := json.Marshal(v)
					s = string(b)
				}
				if meta == nil {
					meta = map[string]string{}
				}
				meta[k] = s
			}
			return meta
		}
		if err := fn(readRow(line, o, get, meta)); err != nil {
			return err
		}
	}
}

// maxJSONLine bounds one JSON-lines row: a user and their meta fit in a
// few KiB.
const maxJSONLine = 1 << 20

// readLine reads one line without its newline. A line longer than max is
// read to its end but not kept: long reports it, so one bad row costs one
// row, not the file.
func readLine(br *bufio.Reader, max int) (line []byte, long bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			if len(line)+len(chunk) > max+1 { // +1: the newline
				long, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(line, []byte("\n")), long, err
	}
}

// userKey is an 8-byte fingerprint of a user reference, ignoring case, as
// the IdPs match: two rows with the same key name the same user.
func userKey(u tasks.User) uint64 {
	h := fnv.New64a()
	h.Write([]byte(u.Kind()))
	h.Write([]byte{0})
	h.Write([]byte(strings.ToLower(u.Value())))
	return h.Sum64()
}

// ScanSource reads a whole source, reporting what it holds and which rows
// are invalid or repeat an earlier user, without storing anything: one
// pass over r.
func ScanSource(r io.Reader, o ReadOptions) (*Scan, error) {
	sc := newScanner(o.Rows)
	digest, err := Read(r, o, func(row Row, p *Problem) error { sc.add(row, p); return nil })
	if err != nil {
		return nil, err
	}
	return sc.finish(digest), nil
}

// scanner builds a Scan a row at a time, so that whatever else reads the
// rows (an import) gets the scan from the same pass. It holds 12 bytes per
// row whatever the rows hold; sized right, it avoids the copies of a
// growing slice.
type scanner struct {
	s     *Scan
	users userRows
	lines lineMap
}

func newScanner(rows int) *scanner {
	return &scanner{s: &Scan{Reasons: map[string]int{}},
		users: userRows{keys: make([]uint64, 0, rows), rows: make([]int32, 0, rows)}}
}

// reserve makes room for rows rows in all, so the index is not copied
// as it grows to that.
func (sc *scanner) reserve(rows int) {
	if n := rows - len(sc.users.keys); n > 0 {
		sc.users.keys = slices.Grow(sc.users.keys, n)
		sc.users.rows = slices.Grow(sc.users.rows, n)
	}
}

// add counts the next row in file order.
func (sc *scanner) add(row Row, p *Problem) {
	s := sc.s
	idx := s.Rows
	s.Rows++
	sc.lines.add(idx, row.Line)
	if p != nil {
		s.Invalid++
		s.Reasons[p.Reason]++
		if len(s.Problems) < maxProblems {
			s.Problems = append(s.Problems, *p)
		}
		return
	}
	s.Valid++
	sc.users.keys = append(sc.users.keys, userKey(row.User))
	sc.users.rows = append(sc.users.rows, int32(idx))
}

// finish finds the duplicate rows and returns the scan of the file whose
// SHA-256 is digest.
func (sc *scanner) finish(digest string) *Scan {
	s, users, lines := sc.s, sc.users, sc.lines
	sc.users = userRows{}
	s.Digest = digest
	// Sorted by user, then row, every row after the first of its user is a
	// duplicate.
	sort.Sort(users)
	type dup struct{ row, first int32 }
	var dups []dup
	first := 0
	for i := 1; i < len(users.keys); i++ {
		if users.keys[i] != users.keys[first] {
			first = i
			continue
		}
		dups = append(dups, dup{users.rows[i], users.rows[first]})
	}
	users = userRows{}
	slices.SortFunc(dups, func(a, b dup) int { return cmp.Compare(a.row, b.row) })
	s.Duplicates = len(dups)
	if s.Duplicates > 0 {
		s.Reasons[tasks.ReasonDuplicateRow] = s.Duplicates
	}
	s.dups = make([]int32, len(dups))
	for i, d := range dups {
		s.dups[i] = d.row
	}
	for _, d := range dups[:min(len(dups), maxProblems)] {
		s.Problems = append(s.Problems, Problem{Line: lines.line(int(d.row)), Reason: tasks.ReasonDuplicateRow,
			Detail: fmt.Sprintf("the same user as line %d; reset once", lines.line(int(d.first)))})
	}
	slices.SortStableFunc(s.Problems, func(a, b Problem) int { return a.Line - b.Line })
	s.Problems = s.Problems[:min(len(s.Problems), maxProblems)]
	return s
}

// userRows pairs each valid row's user key with its row, in two slices
// sorted together: 12 bytes a row, where a struct would take 16.
type userRows struct {
	keys []uint64
	rows []int32
}

func (u userRows) Len() int { return len(u.keys) }
func (u userRows) Less(i, j int) bool {
	if u.keys[i] != u.keys[j] {
		return u.keys[i] < u.keys[j]
	}
	return u.rows[i] < u.rows[j]
}
func (u userRows) Swap(i, j int) {
	u.keys[i], u.keys[j] = u.keys[j], u.keys[i]
	u.rows[i], u.rows[j] = u.rows[j], u.rows[i]
}

// lineMap finds a row's line without a number per row: it keeps only the
// rows where line minus row changes (a field spanning lines, a blank line),
// which in most files is the first row alone.
type lineMap struct{ rows, lines []int }

func (m *lineMap) add(row, line int) {
	if n := len(m.rows); n > 0 && line-row == m.lines[n-1]-m.rows[n-1] {
		return
	}
	m.rows, m.lines = append(m.rows, row), append(m.lines, line)
}

func (m *lineMap) line(row int) int {
	i, found := slices.BinarySearch(m.rows, row)
	if !found {
		i--
	}
	if i < 0 {
		return 0
	}
	return m.lines[i] + row - m.rows[i]
}
