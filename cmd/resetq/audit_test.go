package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/audit"
	"github.com/resetq/resetq/internal/redistest"
)

// auditConfigured is a configuration on a Redis of the test's own, and a
// trail holding a record of two days ago and three of now.
func auditConfigured(t *testing.T) (*configured, []audit.Record) {
	t.Helper()
	ctx := context.Background()
	r := redistest.Start(t)
	c := configure(t, fmt.Sprintf("redis: {url: %q}\naudit: {retention: 720h, max_records: 5000}\nproviders:\n%s",
		r.URL(0), keycloakProvider("corp", "http://127.0.0.1:1", realm)))
	trail, err := newAuditTrail(c.cfg, c.rdb)
	require.NoError(t, err)
	require.NoError(t, trail.Append(ctx, audit.Record{Time: time.Now().Add(-48 * time.Hour), Actor: "cli:alice@laptop",
		Action: "campaign.start", Target: "campaign:spring", Result: "ok", Campaign: "spring"}))
	for _, rec := range []audit.Record{
		{Actor: "api:helpdesk", Address: "192.0.2.17", Action: "reset.request", Target: "provider:corp", Result: "duplicate",
			TaskID: "r-1", Provider: "corp", User: "email:3fa2c1d4e5f6"},
		{Actor: "worker", Action: "reset.outcome", Target: "task:r-1", Result: "skipped", Reason: "user_not_found",
			TaskID: "r-1", Provider: "corp", User: "email:3fa2c1d4e5f6"},
		{Actor: "console:ops", Action: "provider.resume", Target: "provider:corp", Result: "ok", Reason: "-credentials rotated",
			Provider: "corp"},
	} {
		require.NoError(t, trail.Append(ctx, rec))
	}
	var all []audit.Record
	require.NoError(t, trail.Query(ctx, audit.Filter{}, func(r audit.Record) error { all = append(all, r); return nil }))
	require.Len(t, all, 4)
	return c, all
}

func readJSONL(t *testing.T, s string) []audit.Record {
	t.Helper()
	var out []audit.Record
	require.NoError(t, audit.ReadJSONL(strings.NewReader(s), func(r audit.Record) error { out = append(out, r); return nil }))
	return out
}

func TestAuditExportWritesTheTrailAsJSONLinesOrCSV(t *testing.T) {
	t.Parallel()
	c, all := auditConfigured(t)

	code, out, errb := c.cli(t, "audit", "export")
	require.Equal(t, exitOK, code, errb)
	require.Equal(t, all[1:], readJSONL(t, out), "JSON lines of the last 24 hours by default")

	code, out, errb = c.cli(t, "audit", "export", "--since", "3d", "--output", "csv")
	require.Equal(t, exitOK, code, errb)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, audit.Header, rows[0])
	require.Len(t, rows, 5, "the header and the four records of three days")
	require.Equal(t, []string{all[3].ID, all[3].Time.Format(time.RFC3339Nano), "console:ops", "", "provider.resume", "provider:corp",
		"ok", "'-credentials rotated", "", "corp", "", ""}, rows[4], "a cell a spreadsheet would take for a formula is quoted")

	code, out, errb = c.cli(t, "audit", "export", "--since", "7d", "--actor", "cli:")
	require.Equal(t, exitOK, code, errb)
	require.Equal(t, all[:1], readJSONL(t, out))

	code, out, errb = c.cli(t, "audit", "export", "--action", "reset.*", "--until", time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
	require.Equal(t, exitOK, code, errb)
	require.Equal(t, all[1:3], readJSONL(t, out))

	code, out, errb = c.cli(t, "audit", "export", "--since", "7d", "--until", "1d")
	require.Equal(t, exitOK, code, errb)
	require.Equal(t, all[:1], readJSONL(t, out))

	file := filepath.Join(t.TempDir(), "audit.csv")
	code, out, errb = c.cli(t, "audit", "export", "--output", "csv", "--out", file, "--actor", "nobody")
	require.Equal(t, exitOK, code, errb)
	require.Empty(t, out)
	written, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, strings.Join(audit.Header, ",")+"\n", string(written), "no records: the header alone")

	// The command line and the API write the same bytes: both are Export.
	trail, err := newAuditTrail(c.cfg, c.rdb)
	require.NoError(t, err)
	f, err := audit.ParseFilter("", "", "", "", time.Now())
	require.NoError(t, err)
	var api bytes.Buffer
	require.NoError(t, trail.Export(context.Background(), &api, audit.CSV, f))
	_, out, _ = c.cli(t, "audit", "export", "--output", "csv")
	require.Equal(t, api.String(), out)
}

func TestAuditExportRefusesBadFlagsNamingThem(t *testing.T) {
	t.Parallel()
	c, _ := auditConfigured(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--since", "yesterday"}, `resetq: --since "yesterday": must be an RFC 3339 time (2026-11-22T18:00:00Z) or a duration back from now (24h, 7d)`},
		{[]string{"--until", "2026-13-01"}, `resetq: --until "2026-13-01": must be an RFC 3339 time`},
		{[]string{"--since", "1h", "--until", "2h"}, `resetq: --since "1h": must be before until (`},
		{[]string{"--until", "7d"}, `resetq: --since "24h": must be before until (`},
		{[]string{"--output", "json"}, `resetq: --output must be jsonl or csv, not "json"`},
		{[]string{"--sinse", "1h"}, "unknown flag: --sinse"},
		{[]string{"everything"}, `unknown command "everything" for "resetq audit export"`},
	} {
		code, out, errb := c.cli(t, append([]string{"audit", "export"}, tt.args...)...)
		require.Equal(t, exitUsage, code, "%v: %s", tt.args, errb)
		require.Empty(t, out, tt.args)
		require.Contains(t, errb, tt.want, tt.args)
	}
	file := filepath.Join(t.TempDir(), "missing", "audit.jsonl")
	code, _, errb := c.cli(t, "audit", "export", "--out", file)
	require.Equal(t, exitUsage, code)
	require.Contains(t, errb, "resetq: --out: open "+file)
}
