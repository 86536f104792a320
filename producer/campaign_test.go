package producer_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/campaigns/campaignstest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// notices records what this package's feeders noticed: several run at
// once, and each campaign must be noticed by exactly one of them, once.
var notices = &campaignstest.Notices{}

// startFeeder runs a feeder as a worker process runs one, for the
// providers of newClient.
func startFeeder(t *testing.T, rdb redis.UniversalClient) *campaigns.Feeder {
	m := campaigns.NewManager(campaigns.Config{Redis: rdb, Providers: []campaigns.Provider{
		{Name: "corp", MaxRetries: 7, AttemptTimeout: time.Minute}, {Name: "idle", MaxRetries: 3}}})
	return campaignstest.StartFeeder(t, m, notices)
}

var (
	eventually = campaignstest.Eventually
	uniq       = campaignstest.Uniq
	users      = campaignstest.Users
)

func campaign(t *testing.T, c *producer.Client, name string) *producer.Campaign {
	t.Helper()
	return campaignstest.Get(t, c.GetCampaign, name)
}

func TestACampaignRunsToItsEndAndIsNoticedOnce(t *testing.T) {
	t.Parallel()
	c, rdb := newClient(t)
	f := startFeeder(t, rdb)
	startFeeder(t, rdb) // a second worker process
	ctx := context.Background()
	name := uniq("to-the-end")
	src := "email,ticket\nalice@example.com,T-1\n" + strings.TrimPrefix(users(40, "nowhere.example"), "email,ticket\n") +
		"ALICE@example.com,T-dup\n"
	res, err := c.StartCampaign(ctx, strings.NewReader(src), producer.CampaignRequest{Name: name, Provider: "corp", Source: "users.csv"})
	require.NoError(t, err)
	require.False(t, res.Resumed)
	require.Equal(t, 42, res.Campaign.Rows)
	require.Equal(t, 1, res.Campaign.Skipped, "the duplicate row is skipped at import")

	eventually(t, "the campaign completes", func() bool { return campaign(t, c, name).Done() })
	got := campaign(t, c, name)
	require.Equal(t, producer.CampaignCompleted, got.Status)
	require.Equal(t, 1, got.Succeeded, "alice")
	require.Equal(t, 41, got.Skipped, "40 unknown users and the duplicate")
	require.Zero(t, got.Inflight)
	eventually(t, "campaign.completed is handed on", func() bool { n, _ := notices.Of(name); return n == 1 })
	store := campaigns.NewStore(rdb)
	eventually(t, "it leaves the active list", func() bool {
		ids, err := store.Active(ctx)
		require.NoError(t, err)
		for _, id := range ids {
			if id == name {
				return false
			}
		}
		return true
	})
	campaignstest.Passes(t, f, 3) // retired: no feeder looks at it again
	n, ev := notices.Of(name)
	require.Equal(t, 1, n)
	require.Equal(t, 1, ev.Succeeded)

	var report []producer.ReportRow
	require.NoError(t, c.CampaignReport(ctx, name, func(r producer.ReportRow) error {
		report = append(report, r)
		return nil
	}))
	require.Len(t, report, 42)
	require.Equal(t, producer.ReportRow{Line: 2, User: tasks.User{Email: "alice@example.com"}, State: "succeeded",
		Attempts: 1, Finished: report[0].Finished, Requester: "app:producer.test"}, report[0],
		"a campaign without a requester is the client's own, named after its program")
	require.Equal(t, "skipped", report[1].State)
	require.Equal(t, tasks.ReasonUserNotFound, report[1].Reason)
	require.Equal(t, tasks.ReasonDuplicateRow, report[41].Reason)
	require.Equal(t, 43, report[41].Line)
}

func TestStartingTheSameFileAgainResumes(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := context.Background()
	src := users(20, uniq("again")+".example")
	req := producer.CampaignRequest{Provider: "idle", Source: "/tmp/Breach Users.csv"}
	first, err := c.StartCampaign(ctx, strings.NewReader(src), req)
	require.NoError(t, err)
	require.Regexp(t, `^breach-users-[0-9a-f]{8}$`, first.Campaign.ID, "named after the file and its digest")

	again, err := c.StartCampaign(ctx, strings.NewReader(src), req)
	require.NoError(t, err)
	require.True(t, again.Resumed)
	require.Equal(t, first.Campaign.ID, again.Campaign.ID)

	req.Name = first.Campaign.ID
	_, err = c.StartCampaign(ctx, strings.NewReader(users(21, "other.example")), req)
	require.ErrorIs(t, err, producer.ErrCampaignExists, "the same name for another file")
	require.ErrorContains(t, err, "another file")

	req.ForceNew = true
	forced, err := c.StartCampaign(ctx, strings.NewReader(src), req)
	require.NoError(t, err)
	require.False(t, forced.Resumed)
	require.Equal(t, first.Campaign.ID+"-2", forced.Campaign.ID)
	forced, err = c.StartCampaign(ctx, strings.NewReader(src), req)
	require.NoError(t, err)
	require.Equal(t, first.Campaign.ID+"-3", forced.Campaign.ID)
}

func TestInvalidRowsAreRefusedUnlessSkipped(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := context.Background()
	src := "email\nok@example.com\nnot-an-email\n\nok2@example.com\n"
	name := uniq("invalid")
	_, err := c.StartCampaign(ctx, strings.NewReader(src), producer.CampaignRequest{Name: name, Provider: "idle"})
	var ire *producer.InvalidRowsError
	require.ErrorAs(t, err, &ire)
	require.ErrorIs(t, err, producer.ErrInvalidRequest)
	require.Equal(t, 1, ire.Scan.Invalid)
	require.ErrorContains(t, err, "first on line 3")
	_, err = c.GetCampaign(ctx, name)
	require.ErrorIs(t, err, producer.ErrCampaignNotFound, "nothing was stored")

	res, err := c.StartCampaign(ctx, strings.NewReader(src), producer.CampaignRequest{Name: name, Provider: "idle", SkipInvalid: true})
	require.NoError(t, err)
	require.Equal(t, 1, res.Campaign.Failed)
	var rows []producer.ReportRow
	require.NoError(t, c.CampaignReport(ctx, name, func(r producer.ReportRow) error { rows = append(rows, r); return nil }))
	require.Equal(t, "failed", rows[1].State)
	require.Equal(t, tasks.ReasonInvalidRow, rows[1].Reason)
	require.Equal(t, "not-an-email", rows[1].Invalid)
	require.Equal(t, 3, rows[1].Line)
	require.Equal(t, "waiting", rows[2].State)

	for name, req := range map[string]producer.CampaignRequest{
		"unknown provider": {Provider: "okta"},
		"bad name":         {Provider: "idle", Name: "Bad Name"},
		"rate and spread":  {Provider: "idle", RateN: 5, RatePer: time.Second, Spread: time.Hour},
		"bad action":       {Provider: "idle", Actions: []string{"nope"}},
	} {
		_, err := c.StartCampaign(ctx, strings.NewReader(src), req)
		require.ErrorIs(t, err, producer.ErrInvalidRequest, name)
	}
	_, err = c.StartCampaign(ctx, strings.NewReader("name\nalice\n"), producer.CampaignRequest{Provider: "idle"})
	require.ErrorContains(t, err, "the header has no id, email, username column")
}

// The public statuses, formats and report formats mirror the manager's,
// which producer must not expose: a campaign's status and a request's
// format are converted as they are.
func TestThePublicNamesAreTheManagersOwn(t *testing.T) {
	t.Parallel()
	require.Equal(t, []campaigns.Status{campaigns.Importing, campaigns.Scheduled, campaigns.Running, campaigns.Paused,
		campaigns.Cancelled, campaigns.Completed}, []campaigns.Status{
		campaigns.Status(producer.CampaignImporting), campaigns.Status(producer.CampaignScheduled),
		campaigns.Status(producer.CampaignRunning), campaigns.Status(producer.CampaignPaused),
		campaigns.Status(producer.CampaignCancelled), campaigns.Status(producer.CampaignCompleted)})
	require.Equal(t, []campaigns.Format{campaigns.CSV, campaigns.JSONL},
		[]campaigns.Format{campaigns.Format(producer.FormatCSV), campaigns.Format(producer.FormatJSONL)})
	require.Equal(t, campaigns.ReportFormats, producer.ReportFormats)
	require.Equal(t, campaigns.ReportHeader, producer.ReportHeader)
}

func TestCampaignErrorsAreThePublicSentinels(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := context.Background()
	name := uniq("sentinels")
	_, err := c.StartCampaign(ctx, strings.NewReader(users(3, "sentinels.example")),
		producer.CampaignRequest{Name: name, Provider: "idle", StartAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	_, err = c.CancelCampaign(ctx, name)
	require.NoError(t, err)
	_, err = c.ResumeCampaign(ctx, name)
	require.ErrorIs(t, err, producer.ErrCampaignState)
	require.EqualError(t, err, "not possible in the campaign's status: cannot resume campaign "+name+", which is cancelled")
	_, err = c.GetCampaign(ctx, "no-such-campaign")
	require.ErrorIs(t, err, producer.ErrCampaignNotFound)
	_, err = c.GetCampaign(ctx, "Not A Name")
	require.ErrorIs(t, err, producer.ErrInvalidRequest)
	err = c.WriteReport(ctx, name, "xml", nil, io.Discard)
	require.ErrorIs(t, err, producer.ErrInvalidRequest)
}
