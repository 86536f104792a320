package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Time       time.Time
	Action     string
	Package    string
	Test       string
	Elapsed    float64 // seconds
	Output     string
	ImportPath string // build-output and build-fail
}

// timing is how long a top-level test took.
type timing struct {
	pkg, test string
	elapsed   time.Duration
	failed    bool
}

// report turns the events back into plain `go test` output and keeps the
// top-level tests' times.
type report struct {
	w      *bufio.Writer
	output map[string][]string // held until the test or package ends
	times  []timing
	failed bool
	first  time.Time
	last   time.Time
	took   time.Duration // the command's wall time, where known
}

func newReport(w *bufio.Writer) *report {
	return &report{w: w, output: map[string][]string{}}
}

func key(pkg, test string) string { return pkg + "\x00" + test }

// read consumes the events until EOF, printing as packages and failed
// tests end. A line that is not an event is printed as it is.
func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintf(r.w, "%s\n", sc.Bytes())
			continue
		}
		r.handle(e)
	}
	return sc.Err()
}

func (r *report) handle(e event) {
	if !e.Time.IsZero() {
		if r.first.IsZero() {
			r.first = e.Time
		}
		r.last = e.Time
	}
	k := key(e.Package, e.Test)
	switch e.Action {
	case "build-output":
		r.w.WriteString(e.Output)
	case "build-fail":
		r.failed = true
	case "output":
		r.output[k] = append(r.output[k], e.Output)
	case "pass", "skip":
		if e.Test == "" {
			// ok or "no test files": the package's summary line alone.
			for _, line := range r.output[k] {
				if strings.HasPrefix(line, "ok ") || strings.HasPrefix(line, "?   ") {
					r.w.WriteString(line)
				}
			}
		}
		r.end(e, k, false)
	case "fail":
		r.failed = true
		for _, line := range r.output[k] {
			if !framing(line) {
				r.w.WriteString(line)
			}
		}
		r.end(e, k, true)
	}
	// A line at a time as packages finish, so a long run shows progress.
	if e.Test == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip") {
		_ = r.w.Flush()
	}
}

func (r *report) end(e event, k string, failed bool) {
	delete(r.output, k)
	if e.Test != "" && !strings.Contains(e.Test, "/") && e.Action != "skip" {
		r.times = append(r.times, timing{pkg: e.Package, test: e.Test,
			elapsed: time.Duration(e.Elapsed * float64(time.Second)), failed: failed})
	}
}

// framing says whether a line is one that -json's implied -v adds and
// plain go test does not print.
func framing(line string) bool {
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME"} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// printSlowest prints the n slowest top-level tests, and how long the run
// took.
func (r *report) printSlowest(n int) {
	if n <= 0 || len(r.times) == 0 {
		return
	}
	slices.SortStableFunc(r.times, func(a, b timing) int { return cmp.Compare(b.elapsed, a.elapsed) })
	top := r.times[:min(n, len(r.times))]
	prefix := commonDir(r.times)
	fmt.Fprintf(r.w, "\n%d slowest tests", len(top))
	took := r.took
	if took == 0 {
		took = r.last.Sub(r.first)
	}
	fmt.Fprintf(r.w, " (the run took %s)", took.Round(100*time.Millisecond))
	fmt.Fprintln(r.w, ":")
	for _, t := range top {
		mark := ""
		if t.failed {
			mark = "  FAIL"
		}
		fmt.Fprintf(r.w, "%8.1fs  %s %s%s\n", t.elapsed.Seconds(), strings.TrimPrefix(t.pkg, prefix), t.test, mark)
	}
}

// commonDir is the leading path the packages share, ending in a slash,
// so that only what tells them apart is printed.
func commonDir(ts []timing) string {
	prefix := ts[0].pkg + "/"
	for _, t := range ts[1:] {
		for !strings.HasPrefix(t.pkg+"/", prefix) {
			i := strings.LastIndex(strings.TrimSuffix(prefix, "/"), "/")
			if i < 0 {
				return ""
			}
			prefix = prefix[:i+1]
		}
	}
	return prefix
}

func (r *report) flush() error { return r.w.Flush() }
