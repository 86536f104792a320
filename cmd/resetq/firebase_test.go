package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/firebase/firebasetest"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// fbBundle is a world with one Firebase provider, "app", in front of the
// emulator as an admin with a service account's key, with a worker
// running in the process.
type fbBundle struct {
	*configured
	fb   *firebasetest.Server
	logs *syncBuffer
	key  []byte
}

const fbProject = "acme-app"

func setupFirebase(t *testing.T, users int, provider string) *fbBundle {
	t.Helper()
	b := &fbBundle{fb: firebasetest.NewServer(), logs: &syncBuffer{}}
	t.Cleanup(b.fb.Close)
	b.fb.RefuseOwner()
	for i := 1; i <= users; i++ {
		b.fb.AddUser(fbProject, fmt.Sprintf("user%04d@example.com", i))
	}
	b.key = b.fb.ServiceAccount(fbProject, "resetq")
	keyFile := filepath.Join(t.TempDir(), "sa.json")
	require.NoError(t, os.WriteFile(keyFile, b.key, 0o600))
	b.configured = configure(t, fmt.Sprintf(`redis: {url: %q}
worker: {concurrency: 20, poll_interval: 20ms}
http: {listen: "127.0.0.1:0"}
log: {level: debug}
providers:
  - name: app
    type: firebase
    project_id: %s
    base_url: %s
    credentials_file: %s
%s`, redistest.Start(t).URL(0), fbProject, b.fb.BaseURL(), keyFile, provider))
	w := b.start(t, b.logs)
	t.Cleanup(w.stop)
	w.waitReady(t)
	return b
}

func TestFirebaseResetsThroughAWorker(t *testing.T) {
	t.Parallel()
	b := setupFirebase(t, 3, "    verify_user: true\n")
	// Enumeration protection on: only the lookup tells an unknown address.
	b.fb.SetEnumerationProtection(fbProject, true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dave := b.fb.AddUser(fbProject, "dave@example.com")
	off := b.fb.AddUser(fbProject, "erin@example.com")
	b.fb.Disable(off, true)
	want := map[tasks.User]string{
		{Email: "user0001@example.com"}: "succeeded/",
		{ID: dave.LocalID}:              "succeeded/",
		{Email: "nobody@example.com"}:   "skipped/user_not_found",
		{ID: off.LocalID}:               "skipped/user_disabled",
		{Email: "erin@example.com"}:     "skipped/user_disabled",
	}
	requireOutcomes(t, b.client, "app", want)
	require.Equal(t, 1, b.fb.SentTo(fbProject, "user0001@example.com"))
	require.Equal(t, 1, b.fb.SentTo(fbProject, "dave@example.com"), "found by uid")
	require.Len(t, b.fb.OobCodes(fbProject), 2, "nobody else was mailed")
	logs := b.logs.String()
	for _, c := range b.fb.OobCodes(fbProject) {
		require.NotContains(t, logs, c.OobCode, "no reset code in the logs")
	}
	require.NotContains(t, logs, "user0001@example.com", "no address in the logs")
	require.NotContains(t, logs, "PRIVATE KEY", "no key in the logs")

	_, err := b.client.Enqueue(ctx, producer.Request{Provider: "app", User: tasks.User{Username: "dave"}})
	require.ErrorIs(t, err, producer.ErrInvalidRequest, "Firebase finds users by email or uid, and says so at enqueue")

	code, out, errOut := b.cli(t, "provider", "check", "app")
	require.Equal(t, exitOK, code, out+errOut)
	require.Contains(t, out, "email enumeration protection: on")

	// The key deleted: the provider halts, with what to fix.
	b.fb.DeleteServiceAccountKeys()
	code, out, errOut = b.cli(t, "provider", "check", "app")
	require.NotEqual(t, exitOK, code, out+errOut)
	require.Contains(t, out+errOut, "credentials_rejected")
}

// TestFirebaseCampaignOfAThousandUsers: a campaign through Firebase resets
// every user once, on one token; an unknown address is skipped (the
// project answers EMAIL_NOT_FOUND: no enumeration protection).
func TestFirebaseCampaignOfAThousandUsers(t *testing.T) {
	t.Parallel()
	b := setupFirebase(t, thousand, "    rate_limit: 1000/s\n")
	c := campaignOfAThousand(t, b.client, "app")
	require.Equal(t, thousand, c.Succeeded)
	require.Equal(t, 1, c.Skipped, "the unknown address")
	var to []string
	for _, oc := range b.fb.OobCodes(fbProject) {
		to = append(to, oc.Email)
	}
	requireEachOnce(t, to)
	require.Equal(t, 1, b.fb.TokensIssued(), "one token served the whole campaign")
}
