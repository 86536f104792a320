package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// events is a run of two packages, one passing and one with a failed
// subtest, a package without tests and one that does not build, as
// `go test -json` writes them.
const events = `{"Time":"2026-12-02T10:00:00Z","Action":"start","Package":"example.com/m/a"}
{"Time":"2026-12-02T10:00:00Z","Action":"run","Package":"example.com/m/a","Test":"TestFast"}
{"Time":"2026-12-02T10:00:00Z","Action":"output","Package":"example.com/m/a","Test":"TestFast","Output":"=== RUN   TestFast\n"}
{"Time":"2026-12-02T10:00:00Z","Action":"output","Package":"example.com/m/a","Test":"TestFast","Output":"    a_test.go:9: a log line of a test that passes\n"}
{"Time":"2026-12-02T10:00:00Z","Action":"output","Package":"example.com/m/a","Test":"TestFast","Output":"--- PASS: TestFast (0.20s)\n"}
{"Time":"2026-12-02T10:00:00Z","Action":"pass","Package":"example.com/m/a","Test":"TestFast","Elapsed":0.2}
{"Time":"2026-12-02T10:00:01Z","Action":"output","Package":"example.com/m/a","Test":"TestSlow","Output":"=== RUN   TestSlow\n"}
{"Time":"2026-12-02T10:00:01Z","Action":"pass","Package":"example.com/m/a","Test":"TestSlow","Elapsed":12.5}
{"Time":"2026-12-02T10:00:01Z","Action":"output","Package":"example.com/m/a","Test":"TestSkipped","Output":"--- SKIP: TestSkipped (0.00s)\n"}
{"Time":"2026-12-02T10:00:01Z","Action":"skip","Package":"example.com/m/a","Test":"TestSkipped","Elapsed":0}
{"Time":"2026-12-02T10:00:01Z","Action":"output","Package":"example.com/m/a","Output":"PASS\n"}
{"Time":"2026-12-02T10:00:01Z","Action":"output","Package":"example.com/m/a","Output":"ok  \texample.com/m/a\t12.7s\n"}
{"Time":"2026-12-02T10:00:01Z","Action":"pass","Package":"example.com/m/a","Elapsed":12.7}
{"Time":"2026-12-02T10:00:02Z","Action":"output","Package":"example.com/m/b","Test":"TestTable","Output":"=== RUN   TestTable\n"}
{"Time":"2026-12-02T10:00:02Z","Action":"output","Package":"example.com/m/b","Test":"TestTable/one","Output":"=== RUN   TestTable/one\n"}
{"Time":"2026-12-02T10:00:02Z","Action":"output","Package":"example.com/m/b","Test":"TestTable/one","Output":"    b_test.go:20: want 2, got 3\n"}
{"Time":"2026-12-02T10:00:02Z","Action":"output","Package":"example.com/m/b","Test":"TestTable/one","Output":"    --- FAIL: TestTable/one (0.00s)\n"}
{"Time":"2026-12-02T10:00:02Z","Action":"fail","Package":"example.com/m/b","Test":"TestTable/one","Elapsed":0}
{"Time":"2026-12-02T10:00:02Z","Action":"output","Package":"example.com/m/b","Test":"TestTable","Output":"--- FAIL: TestTable (3.00s)\n"}
{"Time":"2026-12-02T10:00:02Z","Action":"fail","Package":"example.com/m/b","Test":"TestTable","Elapsed":3}
{"Time":"2026-12-02T10:00:02Z","Action":"output","Package":"example.com/m/b","Output":"FAIL\n"}
{"Time":"2026-12-02T10:00:02Z","Action":"output","Package":"example.com/m/b","Output":"FAIL\texample.com/m/b\t3.1s\n"}
{"Time":"2026-12-02T10:00:02Z","Action":"fail","Package":"example.com/m/b","Elapsed":3.1}
{"Time":"2026-12-02T10:00:02Z","Action":"output","Package":"example.com/m/c","Output":"?   \texample.com/m/c\t[no test files]\n"}
{"Time":"2026-12-02T10:00:02Z","Action":"skip","Package":"example.com/m/c","Elapsed":0}
{"ImportPath":"example.com/m/d [example.com/m/d.test]","Action":"build-output","Output":"# example.com/m/d\n"}
{"ImportPath":"example.com/m/d [example.com/m/d.test]","Action":"build-output","Output":"d/d.go:3:1: syntax error\n"}
{"ImportPath":"example.com/m/d [example.com/m/d.test]","Action":"build-fail"}
{"Time":"2026-12-02T10:00:03Z","Action":"output","Package":"example.com/m/d","Output":"FAIL\texample.com/m/d [build failed]\n"}
{"Time":"2026-12-02T10:00:03Z","Action":"fail","Package":"example.com/m/d","Elapsed":0,"FailedBuild":"example.com/m/d [example.com/m/d.test]"}
`

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
