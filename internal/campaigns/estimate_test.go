package campaigns

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// An import sizes the scan's index from the file's size and its first
// rows: never less than the rows the file holds when the reader's
// read-ahead is a tenth of what the rows took or less, and not much more.
func TestAnImportGuessesTheRowsOfAFileFromItsFirstRows(t *testing.T) {
	t.Parallel()
	const rows, perRow, readAhead = 1_000_000, 39, 64 << 10
	size := int64(rows * perRow)
	got := estimateRows(size, estimateAfter*perRow+readAhead, estimateAfter)
	require.GreaterOrEqual(t, got, rows)
	require.LessOrEqual(t, got, rows*11/10)
	require.Equal(t, int(size), estimateRows(size, 1, estimateAfter), "never more rows than bytes")
	require.Zero(t, estimateRows(size, 0, estimateAfter))

	path := filepath.Join(t.TempDir(), "users.csv")
	require.NoError(t, os.WriteFile(path, []byte("email\nalice@example.com\n"), 0o600))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	require.Equal(t, int64(24), sizeOf(f), "a file")
	require.Equal(t, int64(5), sizeOf(strings.NewReader("email")), "an upload held in memory")
	require.Zero(t, sizeOf(io.MultiReader(strings.NewReader("email"))), "a stream")
	pr, pw := io.Pipe()
	defer pw.Close()
	require.Zero(t, sizeOf(pr))

	sc := newScanner(0)
	sc.reserve(rows)
	require.GreaterOrEqual(t, cap(sc.users.keys), rows)
	require.GreaterOrEqual(t, cap(sc.users.rows), rows)
}
