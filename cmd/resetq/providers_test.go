package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// thousand is how many users each provider's campaign test resets.
const thousand = 1000

// campaignOfAThousand runs, through provider, the campaign every provider's
// test runs: user0001@example.com to user1000@example.com, then
// nobody@example.com, whom no IdP has. It waits for the campaign to end and
// returns it, completed with nothing failed or in flight.
func campaignOfAThousand(t *testing.T, c *producer.Client, provider string) *producer.Campaign {
	t.Helper()
	var csv strings.Builder
	csv.WriteString("email\n")
	for i := 1; i <= thousand; i++ {
		fmt.Fprintf(&csv, "user%04d@example.com\n", i)
	}
	csv.WriteString("nobody@example.com\n")
	ctx := context.Background()
	name := provider + "-all"
	_, err := c.StartCampaign(ctx, strings.NewReader(csv.String()), producer.CampaignRequest{Name: name, Provider: provider, Source: "users.csv"})
	require.NoError(t, err)
	eventually(t, 2*time.Minute, func() bool {
		got, err := c.GetCampaign(ctx, name)
		require.NoError(t, err)
		return got.Done()
	}, "the campaign ends")
	got, err := c.GetCampaign(ctx, name)
	require.NoError(t, err)
	require.Equal(t, producer.CampaignCompleted, got.Status)
	require.Zero(t, got.Failed+got.Inflight)
	return got
}

// requireEachOnce requires that the IdP mailed every one of the thousand
// users once, and nobody else; to lists each mail's recipient.
func requireEachOnce(t *testing.T, to []string) {
	t.Helper()
	sent := map[string]int{}
	for _, addr := range to {
		sent[strings.ToLower(addr)]++
	}
	require.Len(t, sent, thousand, "every known user got a mail, nobody else")
	for addr, n := range sent {
		require.Equal(t, 1, n, "%s got one mail", addr)
	}
}

// requireOutcomes enqueues a reset of each user through provider, waits
// for it, and requires its outcome and reason ("skipped/user_not_found",
// "succeeded/").
func requireOutcomes(t *testing.T, c *producer.Client, provider string, want map[tasks.User]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for user, outcome := range want {
		res, err := c.Enqueue(ctx, producer.Request{Provider: provider, User: user})
		require.NoError(t, err)
		r, err := c.Wait(ctx, res.TaskID)
		require.NoError(t, err)
		require.Equal(t, outcome, string(r.Outcome)+"/"+r.Reason, "%+v", user)
	}
}
