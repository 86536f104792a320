package httpapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/audit"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/producer/httpapi"
)

const auditToken = "audit-token-0123456789abcdef" // audit alone

// auditEnv is the API with an audit trail of a few records, an auditor
// token (audit) and ops (every other scope).
type auditEnv struct {
	*env
	trail   *audit.Trail
	records []audit.Record
	// at(n) is the time of the n-th record.
	at func(n int) time.Time
}

func setupAudit(t *testing.T, withTrail bool) *auditEnv {
	t.Helper()
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	client, err := producer.NewClient(producer.Config{Redis: rdb, Providers: []producer.Provider{{Name: "corp", Type: "keycloak"}}})
	require.NoError(t, err)
	trail, err := audit.New(audit.Config{Redis: rdb})
	require.NoError(t, err)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	ae := &auditEnv{trail: trail, at: func(n int) time.Time { return base.Add(time.Duration(n) * time.Minute) }}
	for i, r := range []audit.Record{
		{Actor: "api:helpdesk", Address: "192.0.2.17", Action: "reset.request", Target: "provider:corp", Result: "accepted",
			TaskID: "r-1", Provider: "corp", User: "email:3fa2c1d4e5f6"},
		{Actor: "api:helpdesk", Address: "192.0.2.17", Action: "reset.request", Target: "provider:corp", Result: "refused",
			Reason: "invalid_request: user.email \"=1+1\" is not an email address", Provider: "corp"},
		{Actor: "worker", Action: "reset.outcome", Target: "task:r-1", Result: "succeeded", TaskID: "r-1", Provider: "corp",
			User: "email:3fa2c1d4e5f6"},
		{Actor: "console:ops", Address: "198.51.100.4", Action: "campaign.pause", Target: "campaign:spring", Result: "ok",
			Campaign: "spring"},
	} {
		r.Time = ae.at(i)
		require.NoError(t, trail.Append(ctx, r))
	}
	require.NoError(t, trail.Query(ctx, audit.Filter{}, func(r audit.Record) error {
		ae.records = append(ae.records, r)
		return nil
	}))
	require.Len(t, ae.records, 4)

	cfg := httpapi.Config{Client: client, Tokens: []httpapi.Token{
		{Name: "ops", Secret: opsToken, Scopes: []string{httpapi.ScopeResets, httpapi.ScopeOutcomes, httpapi.ScopeCampaigns}},
		{Name: "auditor", Secret: auditToken, Scopes: []string{httpapi.ScopeAudit}},
	}}
	if withTrail {
		cfg.Audit = trail
	}
	api, err := httpapi.New(cfg)
	require.NoError(t, err)
	rec := &recorder{h: api}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	ae.env = &env{url: srv.URL, client: client, rec: rec}
	t.Cleanup(func() { ae.checkContract(t) })
	return ae
}

func (ae *auditEnv) get(t *testing.T, token string, q url.Values) (int, http.Header, []byte) {
	t.Helper()
	path := "/v1/audit"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return ae.call(t, http.MethodGet, path, token, "", nil)
}

// lastBody is the last answer as the API wrote it (call trims it).
func (ae *auditEnv) lastBody() []byte {
	ae.rec.mu.Lock()
	defer ae.rec.mu.Unlock()
	return ae.rec.ex[len(ae.rec.ex)-1].respBody
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func TestTheAuditTrailNeedsTheAuditScope(t *testing.T) {
	t.Parallel()
	ae := setupAudit(t, true)
	code, h, b := ae.get(t, opsToken, nil)
	require.Equal(t, http.StatusForbidden, code, "every other scope is not enough: %s", b)
	p := problem(t, h, b)
	require.Equal(t, httpapi.ProblemTypePrefix+"forbidden", p.Type)
	require.Equal(t, `token "ops" lacks the audit scope`, p.Detail)
	require.NotContains(t, string(b), "helpdesk")

	code, h, b = ae.get(t, "", nil)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, httpapi.ProblemTypePrefix+"unauthorized", problem(t, h, b).Type)

	code, h, _ = ae.call(t, http.MethodPost, "/v1/audit", auditToken, "application/json", strings.NewReader("{}"))
	require.Equal(t, http.StatusMethodNotAllowed, code, "the trail is read, never written, through the API")
	require.Equal(t, "GET", h.Get("Allow"))
}

func TestTheAuditTrailIsExportedThroughTheAPIAsTheCommandLineWritesIt(t *testing.T) {
	t.Parallel()
	ae := setupAudit(t, true)
	ctx := context.Background()

	code, h, b := ae.get(t, auditToken, nil)
	require.Equal(t, http.StatusOK, code, "%s", b)
	require.Equal(t, "application/jsonl", h.Get("Content-Type"))
	require.Equal(t, `attachment; filename="audit.jsonl"`, h.Get("Content-Disposition"))
	require.Equal(t, "no-store", h.Get("Cache-Control"))
	var got []audit.Record
	require.NoError(t, audit.ReadJSONL(bytes.NewReader(b), func(r audit.Record) error { got = append(got, r); return nil }))
	require.Equal(t, ae.records, got, "the last 24 hours, as JSON lines")
	var cli bytes.Buffer
	// The API's export is kept after the records it wrote: leave it out.
	until := ae.records[len(ae.records)-1].Time.Add(time.Millisecond)
	require.NoError(t, ae.trail.Export(ctx, &cli, audit.JSONL, audit.Filter{Until: until}))
	require.Equal(t, cli.String(), string(ae.lastBody()), "byte for byte what the export writes")

	code, h, b = ae.get(t, auditToken, url.Values{"format": {"csv"}, "until": {until.Format(time.RFC3339Nano)}})
	require.Equal(t, http.StatusOK, code, "%s", b)
	require.Equal(t, "text/csv; charset=utf-8", h.Get("Content-Type"))
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, audit.Header, rows[0])
	require.Len(t, rows, 5)
	require.Equal(t, []string{ae.records[3].ID, ae.records[3].Time.Format(time.RFC3339Nano), "console:ops", "198.51.100.4",
		"campaign.pause", "campaign:spring", "ok", "", "", "", "spring", ""}, rows[4])

	// Each export is kept, with who exported: the token, from where.
	code, _, b = ae.get(t, auditToken, url.Values{"action": {"audit.export"}})
	require.Equal(t, http.StatusOK, code, "%s", b)
	var exports []audit.Record
	require.NoError(t, audit.ReadJSONL(bytes.NewReader(b), func(r audit.Record) error { exports = append(exports, r); return nil }))
	require.Len(t, exports, 3, "the API's two and the command line's")
	require.Equal(t, "api:auditor", exports[0].Actor)
	require.Equal(t, "127.0.0.1", exports[0].Address)
	require.Contains(t, exports[0].Reason, "4 record(s) as jsonl")
	require.Contains(t, exports[2].Reason, "4 record(s) as csv")

	for _, tt := range []struct {
		name string
		q    url.Values
		want []int // indexes into ae.records
	}{
		{"an actor", url.Values{"actor": {"api:helpdesk"}}, []int{0, 1}},
		{"a kind of actor", url.Values{"actor": {"console:"}}, []int{3}},
		{"an action", url.Values{"action": {"reset.outcome"}}, []int{2}},
		{"a window", url.Values{"since": {rfc3339(ae.at(1))}, "until": {rfc3339(ae.at(3))}}, []int{1, 2}},
		{"durations back from now", url.Values{"since": {"2h"}, "until": {"1m"}}, []int{0, 1, 2, 3}},
		{"nothing before", url.Values{"until": {rfc3339(ae.at(0))}, "since": {"7d"}}, nil},
		{"everything together", url.Values{"since": {rfc3339(ae.at(1))}, "actor": {"api:"}, "action": {"reset.*"}}, []int{1}},
	} {
		code, _, b := ae.get(t, auditToken, tt.q)
		require.Equal(t, http.StatusOK, code, "%s: %s", tt.name, b)
		var got, want []audit.Record
		require.NoError(t, audit.ReadJSONL(bytes.NewReader(b), func(r audit.Record) error { got = append(got, r); return nil }))
		for _, i := range tt.want {
			want = append(want, ae.records[i])
		}
		require.Equal(t, want, got, tt.name)
	}
}

func TestABadAuditParameterIsABadRequestThatNamesIt(t *testing.T) {
	t.Parallel()
	ae := setupAudit(t, true)
	for _, tt := range []struct {
		q    url.Values
		want string
	}{
		{url.Values{"since": {"yesterday"}}, `since "yesterday": must be an RFC 3339 time (2026-11-22T18:00:00Z) or a duration back from now (24h, 7d)`},
		{url.Values{"until": {"-1h"}}, `until "-1h": must be an RFC 3339 time`},
		{url.Values{"since": {"1h"}, "until": {"2h"}}, `since "1h": must be before until`},
		{url.Values{"format": {"xml"}}, `format must be jsonl or csv, not "xml"`},
		{url.Values{"user": {"alice@example.com"}}, `unknown parameter "user" (known: since, until, actor, action, format)`},
	} {
		code, h, b := ae.get(t, auditToken, tt.q)
		require.Equal(t, http.StatusBadRequest, code, "%v: %s", tt.q, b)
		p := problem(t, h, b)
		require.Equal(t, httpapi.ProblemTypePrefix+"bad-request", p.Type)
		require.Contains(t, p.Detail, tt.want)
	}
}

func TestWithoutATrailTheAuditRouteIsNotFound(t *testing.T) {
	t.Parallel()
	ae := setupAudit(t, false)
	code, h, b := ae.get(t, auditToken, nil)
	require.Equal(t, http.StatusNotFound, code)
	p := problem(t, h, b)
	require.Equal(t, httpapi.ProblemTypePrefix+"not-found", p.Type)
	require.Equal(t, "the audit trail is not served here", p.Detail)
}
