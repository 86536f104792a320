package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/kratos/kratostest"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// krBundle is a world with one Kratos provider, "ory", in front of the
// emulator, with a worker running in the process.
type krBundle struct {
	*configured
	kr   *kratostest.Server
	logs *syncBuffer
}

func setupKratos(t *testing.T, users int, provider string) *krBundle {
	t.Helper()
	b := &krBundle{kr: kratostest.NewServer(), logs: &syncBuffer{}}
	t.Cleanup(b.kr.Close)
	for i := 1; i <= users; i++ {
		b.kr.AddIdentity(fmt.Sprintf("user%04d@example.com", i))
	}
	b.configured = configure(t, fmt.Sprintf(`redis: {url: %q}
worker: {concurrency: 20, poll_interval: 20ms}
http: {listen: "127.0.0.1:0"}
log: {level: debug}
providers:
  - name: ory
    type: kratos
    base_url: %s
%s`, redistest.Start(t).URL(0), b.kr.URL(), strings.ReplaceAll(provider, "{{url}}", b.kr.URL())))
	w := b.start(t, b.logs)
	t.Cleanup(w.stop)
	w.waitReady(t)
	return b
}

func TestKratosResetsThroughAWorker(t *testing.T) {
	t.Parallel()
	b := setupKratos(t, 3, `    admin_url: {{url}}
    verify_user: true
    rate_limit: 100/s
`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := b.kr.AddIdentity("dave@example.com").ID
	off := b.kr.AddIdentity("erin@example.com")
	b.kr.SetState(off, "inactive")
	want := map[tasks.User]string{
		{Email: "user0001@example.com"}: "succeeded/",
		{ID: id}:                        "succeeded/",
		{Email: "nobody@example.com"}:   "skipped/user_not_found",
		{ID: off.ID}:                    "skipped/user_disabled",
	}
	requireOutcomes(t, b.client, "ory", want)
	require.Equal(t, 1, b.kr.SentTo("user0001@example.com"))
	require.Equal(t, 1, b.kr.SentTo("dave@example.com"), "found by id")
	for _, m := range b.kr.Messages() {
		require.NotEmpty(t, m.Link, "a link: the default method")
		require.NotContains(t, b.logs.String(), m.Link, "no reset link in the logs")
	}
	require.NotContains(t, b.logs.String(), "user0001@example.com", "no address in the logs")

	_, err := b.client.Enqueue(ctx, producer.Request{Provider: "ory", User: tasks.User{Username: "dave"}})
	require.ErrorIs(t, err, producer.ErrInvalidRequest, "Kratos finds users by email or id, and says so at enqueue")

	code, out, errOut := b.cli(t, "provider", "check", "ory")
	require.Equal(t, exitOK, code, out+errOut)
	require.Contains(t, out, `method "link" available`)
}

// TestKratosCampaignOfAThousandUsers: a campaign through Kratos resets
// every user once, the unknown address included (without verify_user
// Kratos answers alike for it, and mails nothing).
func TestKratosCampaignOfAThousandUsers(t *testing.T) {
	t.Parallel()
	b := setupKratos(t, thousand, "    rate_limit: 1000/s\n")
	c := campaignOfAThousand(t, b.client, "ory")
	require.Equal(t, thousand+1, c.Succeeded)
	require.Zero(t, c.Skipped)
	var to []string
	for _, m := range b.kr.Messages() {
		to = append(to, m.Recipient)
	}
	requireEachOnce(t, to)
}
