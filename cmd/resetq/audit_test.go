package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/audit"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/tasks"
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
	require.Len(t, rows, 6, "the header, the four records of three days, and the first export")
	require.Equal(t, []string{cliWho(), "audit.export"}, []string{rows[5][2], rows[5][4]})
	require.Equal(t, []string{all[3].ID, all[3].Time.Format(time.RFC3339Nano), "console:ops", "", "provider.resume", "provider:corp",
		"ok", "'-credentials rotated", "", "corp", "", ""}, rows[4], "a cell a spreadsheet would take for a formula is quoted")

	code, out, errb = c.cli(t, "audit", "export", "--since", "7d", "--actor", "cli:alice@*")
	require.Equal(t, exitOK, code, errb)
	require.Equal(t, all[:1], readJSONL(t, out))
	// Each export is kept, in the name of who ran it.
	code, out, errb = c.cli(t, "audit", "export", "--since", "7d", "--action", "audit.export")
	require.Equal(t, exitOK, code, errb)
	exports := readJSONL(t, out)
	require.Len(t, exports, 3)
	for _, e := range exports {
		require.Equal(t, cliWho(), e.Actor)
	}
	require.Contains(t, exports[1].Reason, "record(s) as csv, since ")

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
	// (Each export is kept after it: both stop before the first of them.)
	until := time.Now().UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
	f, err := audit.ParseFilter("", until, "", "", time.Now())
	require.NoError(t, err)
	var api bytes.Buffer
	require.NoError(t, trail.Export(context.Background(), &api, audit.CSV, f))
	_, out, _ = c.cli(t, "audit", "export", "--output", "csv", "--until", until)
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

// A run of resets, a campaign paused and cancelled, and a provider halted
// and resumed leave exactly the records expected in the trail, in order,
// each in the name of who acted; the export reads back as the trail.
func TestTheAuditTrailOfARunIsWhatHappenedInOrder(t *testing.T) {
	t.Parallel()
	const token = "auditor-token-0123456789abc"
	b := setup(t, settings{users: 6, top: "api:\n  in_worker: true\n  tokens: [{name: ops, token: " + token +
		", scopes: [resets, outcomes, campaigns]}]\n"})
	base := "http://" + b.w.listener.Addr
	api := func(method, path, body string) (int, string) {
		t.Helper()
		key := ""
		if k, ok := strings.CutPrefix(body, "key="); ok {
			key, body, _ = strings.Cut(k, " ")
		}
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		out, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, string(out)
	}
	reset := func(email string) string { return `{"provider":"corp","user":{"email":"` + email + `"}}` }
	taskOf := func(answer string) string {
		var acc struct{ ID string }
		require.NoError(t, json.Unmarshal([]byte(answer), &acc), answer)
		return acc.ID
	}
	// A worker keeps an outcome or a halt just after it is seen (the
	// outcome, the halt record): each step waits for the trail to have
	// it before the next acts, or the two could swap places.
	trail := auditTrail(b.cfg, b.rdb)
	kept := func(n int) {
		t.Helper()
		eventually(t, 20*time.Second, func() bool {
			count := 0
			require.NoError(t, trail.Query(context.Background(), audit.Filter{}, func(audit.Record) error { count++; return nil }))
			return count >= n
		}, "%d records in the trail", n)
	}

	// Resets: by the command line, through the API (a skip, its repeat,
	// a conflicting one and a refused one).
	code, out, errb := b.cli("enqueue", "--provider", "corp", "--email", b.sample.Emails[0], "--wait", "20s")
	require.Equal(t, exitOK, code, out+errb)
	kept(2)
	code, answer := api("POST", "/v1/resets", "key=K1 "+reset("nobody@example.com"))
	require.Equal(t, http.StatusAccepted, code, answer)
	b.wait(taskOf(answer), 20*time.Second)
	kept(4)
	code, _ = api("POST", "/v1/resets", "key=K1 "+reset("nobody@example.com"))
	require.Equal(t, http.StatusAccepted, code)
	code, _ = api("POST", "/v1/resets", "key=K1 "+reset(b.sample.Emails[1]))
	require.Equal(t, http.StatusConflict, code)
	code, _ = api("POST", "/v1/resets", reset("not-an-address"))
	require.Equal(t, http.StatusUnprocessableEntity, code)

	// A campaign, held for an hour, paused through the API and cancelled
	// from the command line: none of its rows ran.
	code, out, errb = b.cli("campaign", "start", b.usersFile(b.sample.Emails[2:4]), "--provider", "corp", "--name", "drill",
		"--start-at", "1h")
	require.Equal(t, exitOK, code, out+errb)
	code, answer = api("POST", "/v1/campaigns/drill/pause", "")
	require.Equal(t, http.StatusOK, code, answer)
	code, out, errb = b.cli("campaign", "cancel", "drill")
	require.Equal(t, exitOK, code, out+errb)

	// A halt: the client's secret rotated in Keycloak under resetq; put
	// back, and the provider resumed through the API.
	b.kc.AddServiceAccount(realm, "resetq", "rotated-by-someone-else")
	b.kc.ExpireAllTokens()
	code, answer = api("POST", "/v1/resets", reset(b.sample.Emails[4]))
	require.Equal(t, http.StatusAccepted, code, answer)
	held := taskOf(answer)
	waitHalted(t, b.rdb, 20*time.Second, "halted")
	kept(12)
	b.kc.AddServiceAccount(realm, "resetq", testSecret)
	code, answer = api("POST", "/v1/providers/corp/resume", "")
	require.Equal(t, http.StatusOK, code, answer)
	require.Equal(t, tasks.Succeeded, b.wait(held, 20*time.Second).Outcome)
	kept(14)

	// The export, read back.
	file := filepath.Join(t.TempDir(), "trail.jsonl")
	code, out, errb = b.cli("audit", "export", "--since", "1h", "--out", file)
	require.Equal(t, exitOK, code, out+errb)
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	got := readJSONL(t, string(raw))
	cli := cliWho()
	type entry struct{ actor, action, result, reason string }
	var seen []entry
	for _, r := range got {
		e := entry{r.Actor, r.Action, r.Result, ""}
		if r.Result == "skipped" || r.Action == "provider.halt" {
			e.reason = r.Reason
		}
		seen = append(seen, e)
		if strings.HasPrefix(r.Actor, "api:") {
			require.Equal(t, "127.0.0.1", r.Address, "%+v: from where", r)
		}
	}
	require.Equal(t, []entry{
		{cli, "reset.request", "accepted", ""},
		{cli, "reset.outcome", "succeeded", ""},
		{"api:ops", "reset.request", "accepted", ""},
		{"api:ops", "reset.outcome", "skipped", "user_not_found"},
		{"api:ops", "reset.request", "duplicate", ""},
		{"api:ops", "reset.request", "conflict", ""},
		{"api:ops", "reset.request", "refused", ""},
		{cli, "campaign.start", "ok", ""},
		{"api:ops", "campaign.pause", "ok", ""},
		{cli, "campaign.cancel", "ok", ""},
		{"api:ops", "reset.request", "accepted", ""},
		{"worker", "provider.halt", "halted", "credentials_rejected"},
		{"api:ops", "provider.resume", "ok", ""},
		{"api:ops", "reset.outcome", "succeeded", ""},
	}, seen)
	require.Equal(t, "task:"+held, got[len(got)-1].Target)
	require.Contains(t, got[6].Reason, "user.email: [user] is not an email address",
		"a refusal says why without quoting the user (log.include_user is off)")
	require.NotContains(t, got[6].Reason, "not-an-address")
	for _, r := range got {
		require.NotContains(t, r.User, "@", "users are named by a keyed hash: log.include_user is off")
	}

	// The export round-trips, and is itself kept.
	var all []audit.Record
	require.NoError(t, trail.Query(context.Background(), audit.Filter{}, func(r audit.Record) error {
		all = append(all, r)
		return nil
	}))
	require.Len(t, all, len(got)+1)
	require.Equal(t, got, all[:len(got)])
	require.Equal(t, audit.Record{ID: all[len(got)].ID, Time: all[len(got)].Time, Actor: cli, Action: "audit.export",
		Target: "audit", Result: "ok", Reason: all[len(got)].Reason}, all[len(got)])
}
