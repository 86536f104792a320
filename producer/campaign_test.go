package producer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/deploysecret"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// finished counts the campaign.completed notices of every feeder in the
// package's tests: several feeders run at once, and each campaign must be
// noticed by exactly one of them, once.
var finished = struct {
	sync.Mutex
	n map[string]int
	c map[string]producer.Campaign
}{n: map[string]int{}, c: map[string]producer.Campaign{}}

func noticed(id string) (int, producer.Campaign) {
	finished.Lock()
	defer finished.Unlock()
	return finished.n[id], finished.c[id]
}

// startFeeder runs a feeder for the test, quick to look and quick to
// suspect a stall.
func startFeeder(t *testing.T, c *producer.Client) *producer.Feeder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := c.NewFeeder(producer.FeederConfig{Interval: 20 * time.Millisecond, StallAfter: 300 * time.Millisecond,
		OnFinished: func(_ context.Context, c *producer.Campaign) error {
			finished.Lock()
			defer finished.Unlock()
			finished.n[c.ID]++
			finished.c[c.ID] = *c
			return nil
		}})
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

// passes waits for the feeder to look at the campaigns n more times.
func passes(t *testing.T, f *producer.Feeder, n uint64) {
	t.Helper()
	want := f.Passes() + n
	eventually(t, fmt.Sprintf("%d feeder passes", n), func() bool { return f.Passes() >= want })
}

// uniq makes a name unique to this run: the package's Redis outlives a
// test run with -count.
func uniq(name string) string { return fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1e9) }

func users(n int, domain string) string {
	var b strings.Builder
	b.WriteString("email,ticket\n")
	for i := range n {
		fmt.Fprintf(&b, "user%d@%s,T-%d\n", i, domain, i)
	}
	return b.String()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 20*time.Second, 10*time.Millisecond, what)
}

func campaign(t *testing.T, c *producer.Client, name string) *producer.Campaign {
	t.Helper()
	got, err := c.GetCampaign(context.Background(), name)
	require.NoError(t, err)
	return got
}

func TestACampaignRunsToItsEndAndIsNoticedOnce(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	f := startFeeder(t, c)
	startFeeder(t, c) // a second worker process
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
	require.Equal(t, campaigns.Completed, got.Status)
	require.Equal(t, 1, got.Succeeded, "alice")
	require.Equal(t, 41, got.Skipped, "40 unknown users and the duplicate")
	require.Zero(t, got.Inflight)
	eventually(t, "campaign.completed is handed on", func() bool { n, _ := noticed(name); return n == 1 })
	eventually(t, "it leaves the active list", func() bool {
		ids, err := campaigns.NewStore(redis.NewClient(&redis.Options{Addr: redisAddr})).Active(ctx)
		require.NoError(t, err)
		for _, id := range ids {
			if id == name {
				return false
			}
		}
		return true
	})
	passes(t, f, 3) // retired: no feeder looks at it again
	n, ev := noticed(name)
	require.Equal(t, 1, n)
	require.Equal(t, 1, ev.Succeeded)

	var report []producer.ReportRow
	require.NoError(t, c.CampaignReport(ctx, name, func(r producer.ReportRow) error {
		report = append(report, r)
		return nil
	}))
	require.Len(t, report, 42)
	require.Equal(t, producer.ReportRow{Line: 2, User: tasks.User{Email: "alice@example.com"}, State: "succeeded",
		Attempts: 1, Finished: report[0].Finished}, report[0])
	require.Equal(t, "skipped", report[1].State)
	require.Equal(t, tasks.ReasonUserNotFound, report[1].Reason)
	require.Equal(t, campaigns.ReasonDuplicateRow, report[41].Reason)
	require.Equal(t, 43, report[41].Line)
}

func TestTheFeederKeepsOnlyAWindowQueued(t *testing.T) {
	t.Parallel()
	c, rdb := newClient(t)
	ctx := context.Background()
	name := uniq("window")
	// Nothing serves "idle": what the feeder queues stays queued.
	res, err := c.StartCampaign(ctx, strings.NewReader(users(250, "window.example")),
		producer.CampaignRequest{Name: name, Provider: "idle", Source: "u.csv", Window: 30})
	require.NoError(t, err)
	require.Equal(t, campaigns.Running, res.Campaign.Status)
	require.Equal(t, 30, res.Campaign.Window)

	f := startFeeder(t, c)
	eventually(t, "the window fills", func() bool { return campaign(t, c, name).Inflight == 30 })
	passes(t, f, 5) // the window holds
	require.Equal(t, 30, campaign(t, c, name).Inflight)

	var info []*asynq.TaskInfo
	for page := 1; ; page++ {
		tis, err := asynq.NewInspectorFromRedisClient(rdb).ListPendingTasks(tasks.CampaignQueueName("idle"), asynq.PageSize(100), asynq.Page(page))
		require.NoError(t, err)
		info = append(info, tis...)
		if len(tis) < 100 {
			break
		}
	}
	var mine int
	for _, ti := range info {
		p, err := tasks.Decode(ti.Payload)
		require.NoError(t, err)
		if p.Campaign != name {
			continue
		}
		mine++
		require.Equal(t, campaignTaskID(t, rdb, "idle", name, p.User), ti.ID)
		require.NotEmpty(t, p.Meta["ticket"], "extra columns travel as meta")
		require.Empty(t, p.IdempotencyKey)
		require.Equal(t, 3, ti.MaxRetry, "the provider's settings apply")
	}
	require.Equal(t, 30, mine)

	// Pause takes the queued tasks back; resume feeds them again.
	got, err := c.PauseCampaign(ctx, name)
	require.NoError(t, err)
	require.Equal(t, campaigns.Paused, got.Status)
	require.Zero(t, got.Inflight)
	require.Equal(t, 250, got.Waiting())
	require.Zero(t, got.Cursor)
	passes(t, f, 5)
	require.Zero(t, campaign(t, c, name).Inflight, "a paused campaign is not fed")
	_, err = c.PauseCampaign(ctx, name)
	require.NoError(t, err, "pausing twice is fine")

	_, err = c.ResumeCampaign(ctx, name)
	require.NoError(t, err)
	eventually(t, "the window fills again", func() bool { return campaign(t, c, name).Inflight == 30 })

	// Cancel: everything not yet sent ends cancelled, and the campaign
	// finishes at once.
	got, err = c.CancelCampaign(ctx, name)
	require.NoError(t, err)
	require.Equal(t, campaigns.Cancelled, got.Status)
	require.Equal(t, 250, got.Cancelled)
	require.True(t, got.Done())
	eventually(t, "cancelled campaigns are noticed too", func() bool { n, _ := noticed(name); return n == 1 })
	_, ev := noticed(name)
	require.Equal(t, campaigns.Cancelled, ev.Status)

	_, err = c.ResumeCampaign(ctx, name)
	require.ErrorIs(t, err, producer.ErrCampaignState)
	_, err = c.PauseCampaign(ctx, name)
	require.ErrorIs(t, err, producer.ErrCampaignState)
	_, err = c.CancelCampaign(ctx, name)
	require.NoError(t, err, "cancelling twice is fine")
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
	require.Equal(t, campaigns.ReasonInvalidRow, rows[1].Reason)
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

func TestSpreadAndScheduleSetThePace(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := context.Background()
	spread, soonName := uniq("spread"), uniq("soon")
	res, err := c.StartCampaign(ctx, strings.NewReader(users(3600, "spread.example")),
		producer.CampaignRequest{Name: spread, Provider: "idle", Spread: time.Hour, StartAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	got := res.Campaign
	require.Equal(t, campaigns.Scheduled, got.Status)
	require.InDelta(t, 1.0, got.Rate(), 1e-9, "3600 users over an hour")
	require.Equal(t, 120, got.Window, "two minutes of its pace")

	f := startFeeder(t, c)
	passes(t, f, 5)
	require.Zero(t, campaign(t, c, spread).Inflight, "nothing is fed before start_at")

	soon, err := c.StartCampaign(ctx, strings.NewReader(users(10, "soon.example")),
		producer.CampaignRequest{Name: soonName, Provider: "idle", StartAt: time.Now().Add(300 * time.Millisecond)})
	require.NoError(t, err)
	require.Equal(t, campaigns.Scheduled, soon.Campaign.Status)
	eventually(t, "it starts at start_at", func() bool { return campaign(t, c, soonName).Inflight == 10 })
	require.Equal(t, campaigns.Running, campaign(t, c, soonName).Status)
	require.False(t, campaign(t, c, soonName).StartedAt.Before(soon.Campaign.StartAt.Truncate(time.Millisecond)))
}

func TestLostTasksAreFedAgain(t *testing.T) {
	t.Parallel()
	c, rdb := newClient(t)
	ctx := context.Background()
	name := uniq("lost")
	_, err := c.StartCampaign(ctx, strings.NewReader(users(5, "lost.example")), producer.CampaignRequest{Name: name, Provider: "idle"})
	require.NoError(t, err)
	startFeeder(t, c)
	eventually(t, "fed", func() bool { return campaign(t, c, name).Inflight == 5 })

	// Redis loses two tasks (a failover, a hand in the queue UI).
	insp := asynq.NewInspectorFromRedisClient(rdb)
	q := tasks.CampaignQueueName("idle")
	for _, u := range []string{"user1@lost.example", "user3@lost.example"} {
		require.NoError(t, insp.DeleteTask(q, campaignTaskID(t, rdb, "idle", name, tasks.User{Email: u})))
	}
	eventually(t, "the lost rows are queued again", func() bool {
		_, err1 := insp.GetTaskInfo(q, campaignTaskID(t, rdb, "idle", name, tasks.User{Email: "user1@lost.example"}))
		_, err3 := insp.GetTaskInfo(q, campaignTaskID(t, rdb, "idle", name, tasks.User{Email: "user3@lost.example"}))
		// The feeder enqueues a row and then records it in flight, so
		// both must be seen: a task without its count is mid-feed.
		return err1 == nil && err3 == nil && campaign(t, c, name).Inflight == 5
	})
	pending, err := insp.ListPendingTasks(q, asynq.PageSize(1000))
	require.NoError(t, err)
	var ours int
	for _, info := range pending {
		p, err := tasks.Decode(info.Payload)
		require.NoError(t, err)
		if p.Campaign == name {
			ours++
		}
	}
	require.Equal(t, 5, ours, "each row has one task, none twice")
}

func TestAnInterruptedImportIsRemoved(t *testing.T) {
	t.Parallel()
	c, rdb := newClient(t)
	ctx := context.Background()
	store := campaigns.NewStore(rdb)
	dead, alive := uniq("dead-import"), uniq("slow-import")
	require.NoError(t, store.Create(ctx, &campaigns.Campaign{ID: dead, Provider: "idle", Status: campaigns.Importing,
		Rows: 10, CreatedAt: time.Now().Add(-time.Hour)}))
	require.NoError(t, store.Create(ctx, &campaigns.Campaign{ID: alive, Provider: "idle", Status: campaigns.Importing,
		Rows: 10, CreatedAt: time.Now().Add(-time.Hour)}))
	ok, err := store.Lease(ctx, alive, "an-importer", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)

	f := startFeeder(t, c)
	eventually(t, "the dead import is removed", func() bool {
		_, err := c.GetCampaign(ctx, dead)
		return errors.Is(err, producer.ErrCampaignNotFound)
	})
	passes(t, f, 3)
	got := campaign(t, c, alive)
	require.Equal(t, campaigns.Importing, got.Status, "an import still holding its lease is left alone")
}

// campaignTaskID is the task ID of a user's row in a campaign started by
// this build.
func campaignTaskID(t *testing.T, rdb redis.UniversalClient, provider, campaign string, u tasks.User) string {
	t.Helper()
	secret, err := deploysecret.Load(context.Background(), rdb)
	require.NoError(t, err)
	return tasks.CampaignTaskID(deploysecret.Derive(secret, deploysecret.TaskIDs), provider, campaign, u)
}

func TestACampaignStartedBeforeKeyedTaskIDsKeepsItsTaskIDs(t *testing.T) {
	t.Parallel()
	c, rdb := newClient(t)
	ctx := context.Background()
	name := uniq("legacy")
	_, err := c.StartCampaign(ctx, strings.NewReader(users(5, "legacy.example")),
		producer.CampaignRequest{Name: name, Provider: "idle", StartAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	// As an older build stored it: without the field. Then it may start.
	key := "resetq:campaign:{" + name + "}"
	require.NoError(t, rdb.HDel(ctx, key, "task_ids").Err())
	require.NoError(t, rdb.HSet(ctx, key, "start_at", time.Now().UnixMilli()).Err())
	startFeeder(t, c)
	eventually(t, "fed", func() bool { return campaign(t, c, name).Inflight == 5 })
	insp := asynq.NewInspectorFromRedisClient(rdb)
	q := tasks.CampaignQueueName("idle")
	u := tasks.User{Email: "user1@legacy.example"}
	_, err = insp.GetTaskInfo(q, tasks.LegacyCampaignTaskID("idle", name, u))
	require.NoError(t, err, "fed under its old IDs")

	// Pausing finds its queued tasks by those IDs and takes them back.
	_, err = c.PauseCampaign(ctx, name)
	require.NoError(t, err)
	_, err = insp.GetTaskInfo(q, tasks.LegacyCampaignTaskID("idle", name, u))
	require.ErrorIs(t, err, asynq.ErrTaskNotFound)
	require.Zero(t, campaign(t, c, name).Inflight)
}
