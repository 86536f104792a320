package main

import (
	"bufio"
	_ "embed"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// events is a run of two packages, one passing and one with a failed
// subtest, a package without tests and one that does not build, as
// `go test -json` writes them.
//
//go:embed testdata/events.jsonl
var events string

func TestReportPrintsWhatPlainGoTestWouldAndTheSlowestTests(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	r := newReport(bufio.NewWriter(&out))
	require.NoError(t, r.read(strings.NewReader(events)))
	r.printSlowest(2)
	require.NoError(t, r.flush())
	require.True(t, r.failed)
	require.Equal(t, "ok  \texample.com/m/a\t12.7s\n"+
		"    b_test.go:20: want 2, got 3\n"+
		"    --- FAIL: TestTable/one (0.00s)\n"+
		"--- FAIL: TestTable (3.00s)\n"+
		"FAIL\n"+
		"FAIL\texample.com/m/b\t3.1s\n"+
		"?   \texample.com/m/c\t[no test files]\n"+
		"# example.com/m/d\n"+
		"d/d.go:3:1: syntax error\n"+
		"FAIL\texample.com/m/d [build failed]\n"+
		"\n2 slowest tests (the run took 3s):\n"+
		"    12.5s  a TestSlow\n"+
		"     3.0s  b TestTable  FAIL\n", out.String())
}

func TestReportOfAPassingRunIsNotAFailure(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	r := newReport(bufio.NewWriter(&out))
	passing, _, _ := strings.Cut(events, `{"Time":"2026-12-02T10:00:02Z"`)
	require.NoError(t, r.read(strings.NewReader(passing)))
	require.False(t, r.failed)
}

// TestRunExitsWithTheCommandsStatus runs a command that stands in for go
// test: its status is the report's, whatever the events say.
func TestRunExitsWithTheCommandsStatus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "events.json")
	require.NoError(t, os.WriteFile(file, []byte(events), 0o600))
	kept := filepath.Join(dir, "kept.json")
	var out, errb strings.Builder
	require.Equal(t, 3, run([]string{"sh", "-c", "cat " + file + "; exit 3"}, 10, kept, &out, &errb))
	require.Contains(t, out.String(), "FAIL\texample.com/m/b")
	require.Contains(t, out.String(), "3 slowest tests")
	got, err := os.ReadFile(kept)
	require.NoError(t, err)
	require.Equal(t, events, string(got), "-json keeps every event")

	out.Reset()
	require.Equal(t, 1, run([]string{"cat", file}, 10, "", &out, &errb), "a failed test fails the run even if the command exits 0")
	passing, _, _ := strings.Cut(events, `{"Time":"2026-12-02T10:00:02Z"`)
	require.NoError(t, os.WriteFile(file, []byte(passing), 0o600))
	require.Equal(t, 0, run([]string{"cat", file}, 10, "", &out, &errb))
}
