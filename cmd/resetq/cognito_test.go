package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/cognito/cognitotest"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/tasks"
)

// cgBundle is a world with one Cognito provider, "pool", in front of the
// emulator, its AWS key in a shared credentials file, with a worker
// running in the process.
type cgBundle struct {
	*configured
	cg   *cognitotest.Server
	pool *cognitotest.Pool
	logs *syncBuffer
}

const cognitoSecret = "worker/aws+secret0123456789abcdefghijklm"

func setupCognito(t *testing.T, users int, provider string) *cgBundle {
	t.Helper()
	b := &cgBundle{cg: cognitotest.NewServer(), logs: &syncBuffer{}}
	t.Cleanup(b.cg.Close)
	b.cg.AddKey("AKIARESETQWORKER", cognitoSecret)
	b.pool = b.cg.AddPool("staff")
	for i := 1; i <= users; i++ {
		b.cg.AddUser(b.pool, fmt.Sprintf("user%04d@example.com", i))
	}
	creds := filepath.Join(t.TempDir(), "credentials")
	require.NoError(t, os.WriteFile(creds, []byte("[default]\naws_access_key_id = AKIARESETQWORKER\naws_secret_access_key = "+cognitoSecret+"\n"), 0o600))
	provider = strings.ReplaceAll(provider, "{{client}}", b.cg.AddClient(b.pool, ""))
	b.configured = configure(t, fmt.Sprintf(`redis: {url: %q}
worker: {concurrency: 20, poll_interval: 20ms}
http: {listen: "127.0.0.1:0"}
log: {level: debug}
providers:
  - name: pool
    type: cognito
    region: %s
    user_pool_id: %s
    endpoint_url: %s
    credentials_file: %s
%s`, redistest.Start(t).URL(0), cognitotest.Region, b.pool.ID, b.cg.URL(), creds, provider))
	w := b.start(t, b.logs)
	t.Cleanup(w.stop)
	w.waitReady(t)
	return b
}

func TestCognitoResetsThroughAWorker(t *testing.T) {
	t.Parallel()
	b := setupCognito(t, 3, "")
	dave := b.cg.AddUser(b.pool, "dave@example.com")
	erin := b.cg.AddUser(b.pool, "erin@example.com")
	b.cg.Set(erin, func(u *cognitotest.User) { u.Enabled = false })
	fred := b.cg.AddUser(b.pool, "fred@example.com")
	b.cg.Set(fred, func(u *cognitotest.User) { u.EmailVerified = false })
	gina := b.cg.AddUser(b.pool, "gina@example.com")
	b.cg.Set(gina, func(u *cognitotest.User) { u.Status = "EXTERNAL_PROVIDER" })
	want := map[tasks.User]string{
		{Email: "user0001@example.com"}:    "succeeded/",
		{ID: b.cg.Get(dave).Sub}:           "succeeded/",
		{Username: "user0002@example.com"}: "succeeded/",
		{Email: "nobody@example.com"}:      "skipped/user_not_found",
		{Username: "nobody"}:               "skipped/user_not_found",
		{Email: "erin@example.com"}:        "skipped/user_disabled",
		{Email: "fred@example.com"}:        "skipped/no_email",
		{Email: "gina@example.com"}:        "skipped/user_disabled",
	}
	requireOutcomes(t, b.client, "pool", want)
	got := b.cg.Get(dave)
	require.Equal(t, "RESET_REQUIRED", got.Status, "AdminResetUserPassword: locked out until they set a new password")
	require.Empty(t, got.Password)
	require.Len(t, b.cg.Codes(), 3)
	logs := b.logs.String()
	require.NotContains(t, logs, cognitoSecret, "no secret in the logs")
	require.NotContains(t, logs, "user0001@example.com", "no address in the logs")

	code, out, errOut := b.cli(t, "provider", "check", "pool")
	require.Equal(t, exitOK, code, out+errOut)
	require.Contains(t, out, "user pool: staff")
	require.Contains(t, out, "RESET_REQUIRED")

	b.cg.Deny(cognitotest.EndpointAdminReset)
	code, out, errOut = b.cli(t, "provider", "check", "pool")
	require.NotEqual(t, exitOK, code, out+errOut)
	require.Contains(t, out+errOut, "permission_denied")
	require.Contains(t, out+errOut, "AdminResetUserPassword")
}

// TestCognitoCampaignOfAThousandUsers: a campaign through Cognito's
// ForgotPassword (passwords keep working) mails every user once; the
// unknown address is skipped.
func TestCognitoCampaignOfAThousandUsers(t *testing.T) {
	t.Parallel()
	b := setupCognito(t, thousand, "    method: forgot\n    client_id: {{client}}\n    rate_limit: 1000/s\n")
	c := campaignOfAThousand(t, b.client, "pool")
	require.Equal(t, thousand, c.Succeeded)
	require.Equal(t, 1, c.Skipped, "the unknown address")
	var to []string
	for _, code := range b.cg.Codes() {
		require.Equal(t, "forgot", code.Kind)
		to = append(to, code.Email)
	}
	requireEachOnce(t, to)
}
