package campaigns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/resetq/resetq/tasks"
)

// Request asks for a campaign; producer.CampaignRequest documents each
// field.
type Request struct {
	Name, Provider, Source string
	Format                 Format
	Actions                []string
	RateN                  int
	RatePer, Spread        time.Duration
	StartAt                time.Time
	Window                 int
	SkipInvalid, ForceNew  bool
	// Requester is who starts the campaign: every row's reset is theirs.
	Requester tasks.Requester
}

// Started is what Start did. Resumed is true when the campaign existed
// (same name, same file): nothing was imported.
type Started struct {
	Campaign *Campaign
	Scan     *Scan
	Resumed  bool
}

// InvalidRowsError is returned by Start for a file with invalid rows when
// SkipInvalid is not set; Scan lists them.
type InvalidRowsError struct{ Scan *Scan }

// Error says how many; producer.InvalidRowsError says it to the user.
func (e *InvalidRowsError) Error() string {
	return fmt.Sprintf("%d of %d rows are invalid", e.Scan.Invalid, e.Scan.Rows)
}

// Unwrap makes the error an ErrInvalid.
func (e *InvalidRowsError) Unwrap() error { return ErrInvalid }

// Window bounds.
const (
	minWindow     = 50
	maxWindow     = 20000
	defaultWindow = 2000
)

// check checks the request and returns its provider.
func (m *Manager) check(req *Request) (Provider, error) {
	prov, ok := m.providers[req.Provider]
	if !ok {
		return Provider{}, fmt.Errorf("%w: provider %q is not configured", ErrInvalid, req.Provider)
	}
	for i, a := range req.Actions {
		if err := tasks.ValidateAction(a); err != nil {
			return Provider{}, fmt.Errorf("%w: actions[%d]: %v", ErrInvalid, i, err)
		}
	}
	if req.Name != "" {
		if err := ValidID(req.Name); err != nil {
			return Provider{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	if req.RateN < 0 || (req.RateN > 0 && req.RatePer <= 0) {
		return Provider{}, fmt.Errorf("%w: rate must be a positive number per period", ErrInvalid)
	}
	if req.RateN > 0 && req.Spread > 0 {
		return Provider{}, fmt.Errorf("%w: give a rate or a spread, not both", ErrInvalid)
	}
	if req.Spread < 0 || req.Window < 0 {
		return Provider{}, fmt.Errorf("%w: spread and window cannot be negative", ErrInvalid)
	}
	if req.Format == "" {
		req.Format = FormatOf(req.Source)
	}
	return prov, nil
}

// Scan reads a campaign's file once, as Start would, and reports every row
// it would refuse or skip, storing nothing: a dry run.
func (m *Manager) Scan(src io.Reader, req Request) (*Scan, error) {
	prov, err := m.check(&req)
	if err != nil {
		return nil, err
	}
	s, err := ScanSource(src, ReadOptions{Format: req.Format, EmailOnly: prov.EmailOnly})
	if err != nil {
		return nil, readError(req.Source, err)
	}
	return s, nil
}

func readError(source string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrInvalid, displaySource(source), err)
}

func displaySource(s string) string {
	if s == "" || s == "-" {
		return "input"
	}
	return s
}

// Start imports a file and starts a campaign over its users, reading the
// file once: the rows are stored as they are read and checked, and the
// campaign that adopts them is created when the read is done. A campaign
// of the same name and file resumes instead: nobody is reset twice.
func (m *Manager) Start(ctx context.Context, src io.Reader, req Request) (*Started, error) {
	prov, err := m.check(&req)
	if err != nil {
		return nil, err
	}
	imp := &importer{store: m.store, tag: randomHex(8), keep: true}
	defer imp.discard(context.WithoutCancel(ctx)) // unless adopted
	scan, err := imp.read(ctx, src, req, prov)
	if err != nil {
		return nil, err
	}
	if scan.Invalid > 0 && !req.SkipInvalid {
		return nil, &InvalidRowsError{Scan: scan}
	}
	if req.Name == "" {
		req.Name = DefaultName(req.Source, scan.Digest)
	}
	name, existing, err := m.pickName(ctx, req, scan.Digest)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return &Started{Campaign: existing, Scan: scan, Resumed: true}, nil
	}

	// The import holds the campaign's lease from before it exists, so no
	// other start takes it for abandoned.
	owner := "import-" + imp.tag
	if ok, err := m.store.Lease(ctx, name, owner, importLease); err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%w: %s is being created by another process", ErrNameTaken, name)
		}
		return nil, err
	}
	defer func() { _ = m.store.Release(context.WithoutCancel(ctx), name, owner) }()

	now := time.Now().UTC()
	camp := &Campaign{
		ID: name, Provider: prov.Name, Actions: req.Actions, Source: filepath.Base(req.Source), Digest: scan.Digest,
		Status: Importing, Rows: scan.Rows, RateN: req.RateN, RatePer: req.RatePer,
		CreatedAt: now, StartAt: req.StartAt.UTC(), Window: req.Window, KeyedTaskIDs: true, Chunks: imp.tag,
		Requester: req.Requester,
	}
	if req.Spread > 0 && scan.Users() > 0 {
		camp.RateN, camp.RatePer = scan.Users(), req.Spread
	}
	if camp.Window == 0 {
		camp.Window = defaultWindowFor(camp, prov)
	}
	if err := m.store.Create(ctx, camp); err != nil {
		if errors.Is(err, ErrExists) {
			return nil, fmt.Errorf("%w: %s is being created by another process", ErrNameTaken, name)
		}
		return nil, err
	}
	if err := imp.adopt(ctx, camp, scan); err != nil {
		// Nothing was fed: the half-imported campaign can go.
		_ = m.store.Delete(context.WithoutCancel(ctx), camp)
		return nil, err
	}
	to := Running
	if camp.StartAt.After(time.Now()) {
		to = Scheduled
	}
	if _, err := m.store.SetStatus(ctx, name, []Status{Importing}, to); err != nil {
		return nil, err
	}
	got, err := m.store.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return &Started{Campaign: got, Scan: scan}, nil
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

// DefaultName names a campaign after its file and the file's digest: the
// same file gives the same name, so starting it again resumes it.
func DefaultName(source, digest string) string {
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
func (m *Manager) pickName(ctx context.Context, req Request, digest string) (string, *Campaign, error) {
	name := req.Name
	for n := 2; ; n++ {
		got, err := m.store.Get(ctx, name)
		if err != nil {
			return "", nil, err
		}
		switch {
		case got == nil:
			return name, nil, nil
		case got.Status == Importing && m.abandoned(ctx, got):
			if err := m.store.Delete(ctx, got); err != nil {
				return "", nil, err
			}
			return name, nil, nil
		case req.ForceNew:
			name = fmt.Sprintf("%s-%d", req.Name, n)
			if len(name) > tasks.MaxNameLen {
				return "", nil, fmt.Errorf("%w: no free name like %s", ErrInvalid, req.Name)
			}
		case got.Digest == digest && got.Provider == req.Provider:
			return name, got, nil
		default:
			return "", nil, fmt.Errorf("%w: %s was started on %s from another file (%s, digest %s…); choose another name, or use force-new",
				ErrNameTaken, name, got.CreatedAt.Format(time.RFC3339), got.Source, got.Digest[:min(12, len(got.Digest))])
		}
	}
}

// importLease is how long an import holds its campaign without renewing.
const importLease = 30 * time.Second

// stagedRows is how long the rows of an import stay stored before a
// campaign adopts them: an import that dies leaves nothing behind for
// longer.
const stagedRows = 24 * time.Hour

// importer stores a file's rows as the one pass over it reads them, under
// its own tag, until a campaign adopts them or they are discarded. Memory
// stays at one chunk of rows whatever the file.
type importer struct {
	store *Store
	tag   string
	// keep is false once the rows are known to be refused (an invalid row
	// without SkipInvalid): the pass goes on for the scan alone.
	keep    bool
	chunk   []Row
	written int
	invalid []int
	adopted bool
}

// read makes the one pass over src: the scan and the stored rows.
func (imp *importer) read(ctx context.Context, src io.Reader, req Request, prov Provider) (*Scan, error) {
	sc := newScanner(0)
	size, in := sizeOf(src), &countingReader{r: src}
	imp.chunk = make([]Row, 0, ChunkRows)
	digest, err := Read(in, ReadOptions{Format: req.Format, EmailOnly: prov.EmailOnly}, func(r Row, p *Problem) error {
		idx := sc.s.Rows
		sc.add(r, p)
		if sc.s.Rows == estimateAfter && size > 0 {
			// The scan's index grows with every row; sized once from the
			// first rows, it is not copied as it grows (a million rows'
			// copies held ten more megabytes at their peak).
			sc.reserve(estimateRows(size, in.n, estimateAfter))
		}
		if p != nil {
			imp.invalid = append(imp.invalid, idx)
			if !req.SkipInvalid {
				imp.keep = false
			}
		}
		if !imp.keep {
			return nil
		}
		imp.chunk = append(imp.chunk, r)
		if len(imp.chunk) == ChunkRows {
			return imp.flush(ctx)
		}
		return nil
	})
	if err == nil && imp.keep {
		err = imp.flush(ctx)
	}
	var serr *storeErr
	switch {
	case errors.As(err, &serr):
		return nil, serr.err
	case err != nil:
		return nil, readError(req.Source, err)
	}
	return sc.finish(digest), nil
}

// storeErr marks an error of storing the rows, which is not the file's
// fault, as opposed to one of reading them.
type storeErr struct{ err error }

func (e *storeErr) Error() string { return e.err.Error() }

func (imp *importer) flush(ctx context.Context) error {
	if len(imp.chunk) == 0 {
		return nil
	}
	if err := imp.store.writeRows(ctx, rowsKey(imp.tag, imp.written), imp.chunk, stagedRows); err != nil {
		return &storeErr{fmt.Errorf("storing rows: %w", err)}
	}
	imp.written++
	imp.chunk = imp.chunk[:0]
	return nil
}

// adopt makes the stored rows the campaign's for good, and gives duplicate
// and invalid rows their outcome.
func (imp *importer) adopt(ctx context.Context, camp *Campaign, scan *Scan) error {
	if err := imp.store.persist(ctx, camp); err != nil {
		return fmt.Errorf("storing rows of campaign %s: %w", camp.ID, err)
	}
	imp.adopted = true
	now := time.Now()
	if _, err := imp.store.Premark(ctx, camp, scan.DuplicateRows(), Record{
		Outcome: tasks.Skipped, Reason: tasks.ReasonDuplicateRow, Finished: now}); err != nil {
		return err
	}
	_, err := imp.store.Premark(ctx, camp, imp.invalid, Record{
		Outcome: tasks.Failed, Reason: tasks.ReasonInvalidRow, Finished: now})
	return err
}

// discard removes the stored rows unless a campaign adopted them.
func (imp *importer) discard(ctx context.Context) {
	if imp.adopted || imp.written == 0 {
		return
	}
	keys := make([]string, imp.written)
	for n := range keys {
		keys[n] = rowsKey(imp.tag, n)
	}
	_ = imp.store.del(ctx, keys)
}

// sizeOf is the size of a source that knows it (a file, an upload), in
// bytes; 0 for a stream.
func sizeOf(src io.Reader) int64 {
	switch f := src.(type) {
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	case interface{ Size() int64 }:
		return f.Size()
	}
	return 0
}

// estimateAfter is how many rows an import reads before it guesses how
// many the source holds: enough that the reader's read-ahead (64 KiB) is
// a small part of what they took.
const estimateAfter = 32 * ChunkRows

// estimateRows guesses how many rows a source of size bytes holds from
// the first rows, read in read bytes. The reader reads ahead, so read is
// a little more than those rows take, and the guess is raised to make up
// for it: better a little room to spare than one more copy at the end.
func estimateRows(size, read int64, rows int) int {
	if read <= 0 || rows <= 0 {
		return 0
	}
	return int(min(float64(size)/(float64(read)/float64(rows))*1.1, float64(size)))
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
