package campaigns_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/campaigns/campaignstest"
)

// onePass is a file that must be read once, from start to end: rewinding
// it fails the test, and so does a test that ends with bytes of it unread.
type onePass struct {
	t    *testing.T
	r    *strings.Reader
	read int
}

func readOnce(t *testing.T, src string) *onePass {
	o := &onePass{t: t, r: strings.NewReader(src)}
	t.Cleanup(func() { require.Equal(t, len(src), o.read, "every byte read") })
	return o
}

func (o *onePass) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	o.read += n
	return n, err
}

func (o *onePass) Seek(int64, int) (int64, error) {
	o.t.Error("the file was rewound to be read again")
	return 0, errors.New("this file can be read once")
}

func TestStartReadsTheFileOnceForTheScanAndTheImport(t *testing.T) {
	t.Parallel()
	m, rdb := newManager(t)
	ctx := context.Background()
	// 2500 users (three chunks), a duplicate and an invalid row.
	src := campaignstest.Users(2500, "once.example") + "USER7@ONCE.example,T-dup\nnot-an-email,T-bad\n"
	res, err := m.Start(ctx, readOnce(t, src), campaigns.Request{Name: "once", Provider: "idle", Source: "u.csv", SkipInvalid: true})
	require.NoError(t, err)
	require.Equal(t, 2502, res.Scan.Rows)
	require.Equal(t, 1, res.Scan.Duplicates)
	require.Equal(t, 1, res.Scan.Invalid)
	require.Equal(t, 2502, res.Campaign.Rows)
	require.Equal(t, 1, res.Campaign.Skipped, "the duplicate, from the same pass")
	require.Equal(t, 1, res.Campaign.Failed, "the invalid row, from the same pass")

	var states []string
	var lines []int
	require.NoError(t, m.Report(ctx, "once", func(r campaigns.ReportRow) error {
		states, lines = append(states, r.State), append(lines, r.Line)
		return nil
	}))
	require.Len(t, states, 2502, "every row stored")
	require.Equal(t, 2, lines[0])
	require.Equal(t, 2503, lines[2501])
	require.Equal(t, []string{"waiting", "skipped", "failed"}, []string{states[2499], states[2500], states[2501]})

	// Started again, the same file resumes: its second reading (one pass
	// again) stores nothing.
	again, err := m.Start(ctx, readOnce(t, src), campaigns.Request{Name: "once", Provider: "idle", Source: "u.csv", SkipInvalid: true})
	require.NoError(t, err)
	require.True(t, again.Resumed)
	keys, err := rdb.Keys(ctx, "resetq:campaign-rows:*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 3, "the campaign's three chunks, and no others")
}

func TestADryRunAndARefusedFileAreReadOnceAndStoreNothing(t *testing.T) {
	t.Parallel()
	m, rdb := newManager(t)
	ctx := context.Background()
	src := campaignstest.Users(1500, "refused.example") + "not-an-email,T-bad\n"

	scan, err := m.Scan(readOnce(t, src), campaigns.Request{Provider: "idle", Source: "u.csv"})
	require.NoError(t, err)
	require.Equal(t, 1501, scan.Rows)
	require.Equal(t, 1, scan.Invalid)

	_, err = m.Start(ctx, readOnce(t, src), campaigns.Request{Name: "refused", Provider: "idle", Source: "u.csv"})
	var ire *campaigns.InvalidRowsError
	require.ErrorAs(t, err, &ire)
	require.Equal(t, 1, ire.Scan.Invalid)
	require.Equal(t, 1502, ire.Scan.Problems[0].Line)
	keys, err := rdb.Keys(ctx, "resetq:*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		require.NotContains(t, k, "campaign", "nothing of a refused file is kept")
	}
}
