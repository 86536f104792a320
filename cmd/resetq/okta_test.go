package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/okta"
	"github.com/resetq/resetq/idp/okta/oktatest"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/tasks"
)

// okBundle is a world with one Okta provider, "workforce", in front of the
// emulator, with a worker running in the process.
type okBundle struct {
	*configured
	ok   *oktatest.Server
	logs *syncBuffer
}

const oktaToken = "00worker-api-token-0123456789abcdefghij"

// setupOkta configures the provider with an API token, or as a service
// app when asApp.
func setupOkta(t *testing.T, users int, asApp bool, provider string) *okBundle {
	t.Helper()
	b := &okBundle{ok: oktatest.NewServer(), logs: &syncBuffer{}}
	t.Cleanup(b.ok.Close)
	for i := 1; i <= users; i++ {
		b.ok.AddUser(fmt.Sprintf("user%04d@example.com", i))
	}
	creds := "    api_token: " + oktaToken + "\n"
	b.ok.AddAPIToken(oktaToken)
	if asApp {
		key, kid := b.ok.AddServiceApp("0oaworker", okta.Scopes...)
		keyFile := filepath.Join(t.TempDir(), "app.pem")
		require.NoError(t, os.WriteFile(keyFile, key, 0o600))
		creds = fmt.Sprintf("    client_id: 0oaworker\n    private_key_file: %s\n    key_id: %s\n", keyFile, kid)
	}
	b.configured = configure(t, fmt.Sprintf(`redis: {url: %q}
worker: {concurrency: 20, poll_interval: 20ms}
http: {listen: "127.0.0.1:0"}
log: {level: debug}
providers:
  - name: workforce
    type: okta
    org_url: %s
%s%s`, redistest.Start(t).URL(0), b.ok.URL(), creds, provider))
	w := b.start(t, b.logs)
	t.Cleanup(w.stop)
	w.waitReady(t)
	return b
}

func TestOktaResetsThroughAWorker(t *testing.T) {
	t.Parallel()
	b := setupOkta(t, 3, false, "    revoke_sessions: true\n")
	dave := b.ok.AddUser("dave@example.com")
	erin := b.ok.AddUser("erin@example.com")
	b.ok.Set(erin, func(u *oktatest.User) { u.Status = "SUSPENDED" })
	fred := b.ok.AddUser("fred@example.com")
	b.ok.Set(fred, func(u *oktatest.User) { u.Status = "STAGED" })
	want := map[tasks.User]string{
		{Email: "user0001@example.com"}:    "succeeded/",
		{ID: dave.ID}:                      "succeeded/",
		{Username: "user0002@example.com"}: "succeeded/",
		{Email: "nobody@example.com"}:      "skipped/user_not_found",
		{ID: "00unobody000000000000"}:      "skipped/user_not_found",
		{Email: "erin@example.com"}:        "skipped/user_disabled",
		{Email: "fred@example.com"}:        "skipped/user_disabled",
	}
	requireOutcomes(t, b.client, "workforce", want)
	got := b.ok.Get(dave)
	require.Equal(t, "RECOVERY", got.Status, "the admin reset: locked out until they finish")
	require.Empty(t, got.Password, "the old password no longer works")
	require.Zero(t, got.Sessions, "revoke_sessions ended them")
	require.Equal(t, 3, len(b.ok.Mails()))
	logs := b.logs.String()
	require.NotContains(t, logs, oktaToken, "no token in the logs")
	require.NotContains(t, logs, "user0001@example.com", "no address in the logs")

	code, out, errOut := b.cli(t, "provider", "check", "workforce")
	require.Equal(t, exitOK, code, out+errOut)
	require.Contains(t, out, "lifecycle/reset_password allowed")
	require.Contains(t, out, "current password stops working")

	b.ok.RevokeAPITokens()
	code, out, errOut = b.cli(t, "provider", "check", "workforce")
	require.NotEqual(t, exitOK, code, out+errOut)
	require.Contains(t, out+errOut, "credentials_rejected")
}

// TestOktaCampaignOfAThousandUsers: a campaign through Okta as a service
// app, by forgot-password (passwords keep working): every user mailed
// once, on one token; the unknown address skipped.
func TestOktaCampaignOfAThousandUsers(t *testing.T) {
	t.Parallel()
	b := setupOkta(t, thousand, true, "    method: forgot\n    rate_limit: 1000/s\n")
	c := campaignOfAThousand(t, b.client, "workforce")
	require.Equal(t, thousand, c.Succeeded)
	require.Equal(t, 1, c.Skipped, "the unknown address")
	var to []string
	for _, m := range b.ok.Mails() {
		require.Equal(t, "forgot", m.Kind)
		to = append(to, m.To)
	}
	requireEachOnce(t, to)
	require.Equal(t, 1, b.ok.TokensIssued(), "one token served the whole campaign")
}
