package campaigns_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/campaigns/campaignstest"
	"github.com/resetq/resetq/internal/deploysecret"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/tasks"
)

// newManager returns a manager on a Redis of the test's own, for provider
// "idle", which no worker serves: what a feeder queues stays queued.
func newManager(t *testing.T) (*campaigns.Manager, redis.UniversalClient) {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	return campaigns.NewManager(campaigns.Config{Redis: rdb, Providers: []campaigns.Provider{{Name: "idle", MaxRetries: 3, AttemptTimeout: 2 * time.Minute}}}), rdb
}

// notices records what this package's feeders noticed.
var notices = &campaignstest.Notices{}

func startFeeder(t *testing.T, m *campaigns.Manager) *campaigns.Feeder {
	return campaignstest.StartFeeder(t, m, notices)
}

func campaign(t *testing.T, m *campaigns.Manager, name string) *campaigns.Campaign {
	t.Helper()
	return campaignstest.Get(t, m.Get, name)
}

// start starts a campaign over n users at domain.
func start(t *testing.T, m *campaigns.Manager, n int, domain string, req campaigns.Request) *campaigns.Started {
	t.Helper()
	res, err := m.Start(context.Background(), strings.NewReader(campaignstest.Users(n, domain)), req)
	require.NoError(t, err)
	return res
}

func TestTheFeederKeepsOnlyAWindowQueued(t *testing.T) {
	t.Parallel()
	m, rdb := newManager(t)
	ctx := context.Background()
	name := campaignstest.Uniq("window")
	// Nothing serves "idle": what the feeder queues stays queued.
	res := start(t, m, 250, "window.example", campaigns.Request{Name: name, Provider: "idle", Source: "u.csv", Window: 30})
	require.Equal(t, campaigns.Running, res.Campaign.Status)
	require.Equal(t, 30, res.Campaign.Window)

	f := startFeeder(t, m)
	campaignstest.Eventually(t, "the window fills", func() bool { return campaign(t, m, name).Inflight == 30 })
	campaignstest.Passes(t, f, 5) // the window holds
	require.Equal(t, 30, campaign(t, m, name).Inflight)

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
	got, err := m.Pause(ctx, name)
	require.NoError(t, err)
	require.Equal(t, campaigns.Paused, got.Status)
	require.Zero(t, got.Inflight)
	require.Equal(t, 250, got.Waiting())
	require.Zero(t, got.Cursor)
	campaignstest.Passes(t, f, 5)
	require.Zero(t, campaign(t, m, name).Inflight, "a paused campaign is not fed")
	_, err = m.Pause(ctx, name)
	require.NoError(t, err, "pausing twice is fine")

	_, err = m.Resume(ctx, name)
	require.NoError(t, err)
	campaignstest.Eventually(t, "the window fills again", func() bool { return campaign(t, m, name).Inflight == 30 })

	// Cancel: everything not yet sent ends cancelled, and the campaign
	// finishes at once.
	got, err = m.Cancel(ctx, name)
	require.NoError(t, err)
	require.Equal(t, campaigns.Cancelled, got.Status)
	require.Equal(t, 250, got.Cancelled)
	require.True(t, got.Done())
	campaignstest.Eventually(t, "cancelled campaigns are noticed too", func() bool { n, _ := notices.Of(name); return n == 1 })
	_, ev := notices.Of(name)
	require.Equal(t, campaigns.Cancelled, ev.Status)

	_, err = m.Resume(ctx, name)
	require.ErrorIs(t, err, campaigns.ErrState)
	_, err = m.Pause(ctx, name)
	require.ErrorIs(t, err, campaigns.ErrState)
	_, err = m.Cancel(ctx, name)
	require.NoError(t, err, "cancelling twice is fine")
}

func TestSpreadAndScheduleSetThePace(t *testing.T) {
	t.Parallel()
	m, _ := newManager(t)
	spread, soonName := campaignstest.Uniq("spread"), campaignstest.Uniq("soon")
	res := start(t, m, 3600, "spread.example", campaigns.Request{Name: spread, Provider: "idle", Spread: time.Hour, StartAt: time.Now().Add(time.Hour)})
	got := res.Campaign
	require.Equal(t, campaigns.Scheduled, got.Status)
	require.InDelta(t, 1.0, got.Rate(), 1e-9, "3600 users over an hour")
	require.Equal(t, 120, got.Window, "two minutes of its pace")

	f := startFeeder(t, m)
	campaignstest.Passes(t, f, 5)
	require.Zero(t, campaign(t, m, spread).Inflight, "nothing is fed before start_at")

	soon := start(t, m, 10, "soon.example", campaigns.Request{Name: soonName, Provider: "idle", StartAt: time.Now().Add(time.Second)})
	require.Equal(t, campaigns.Scheduled, soon.Campaign.Status)
	campaignstest.Eventually(t, "it starts at start_at", func() bool { return campaign(t, m, soonName).Inflight == 10 })
	require.Equal(t, campaigns.Running, campaign(t, m, soonName).Status)
	require.False(t, campaign(t, m, soonName).StartedAt.Before(soon.Campaign.StartAt.Truncate(time.Millisecond)))
}

func TestLostTasksAreFedAgain(t *testing.T) {
	t.Parallel()
	m, rdb := newManager(t)
	name := campaignstest.Uniq("lost")
	start(t, m, 5, "lost.example", campaigns.Request{Name: name, Provider: "idle"})
	startFeeder(t, m)
	campaignstest.Eventually(t, "fed", func() bool { return campaign(t, m, name).Inflight == 5 })

	// Redis loses two tasks (a failover, a hand in the queue UI).
	insp := asynq.NewInspectorFromRedisClient(rdb)
	q := tasks.CampaignQueueName("idle")
	for _, u := range []string{"user1@lost.example", "user3@lost.example"} {
		require.NoError(t, insp.DeleteTask(q, campaignTaskID(t, rdb, "idle", name, tasks.User{Email: u})))
	}
	campaignstest.Eventually(t, "the lost rows are queued again", func() bool {
		_, err1 := insp.GetTaskInfo(q, campaignTaskID(t, rdb, "idle", name, tasks.User{Email: "user1@lost.example"}))
		_, err3 := insp.GetTaskInfo(q, campaignTaskID(t, rdb, "idle", name, tasks.User{Email: "user3@lost.example"}))
		// The feeder enqueues a row and then records it in flight, so
		// both must be seen: a task without its count is mid-feed.
		return err1 == nil && err3 == nil && campaign(t, m, name).Inflight == 5
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
	m, rdb := newManager(t)
	ctx := context.Background()
	store := campaigns.NewStore(rdb)
	dead, alive := campaignstest.Uniq("dead-import"), campaignstest.Uniq("slow-import")
	require.NoError(t, store.Create(ctx, &campaigns.Campaign{ID: dead, Provider: "idle", Status: campaigns.Importing,
		Rows: 10, CreatedAt: time.Now().Add(-time.Hour)}))
	require.NoError(t, store.Create(ctx, &campaigns.Campaign{ID: alive, Provider: "idle", Status: campaigns.Importing,
		Rows: 10, CreatedAt: time.Now().Add(-time.Hour)}))
	ok, err := store.Lease(ctx, alive, "an-importer", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)

	f := startFeeder(t, m)
	campaignstest.Eventually(t, "the dead import is removed", func() bool {
		_, err := m.Get(ctx, dead)
		return errors.Is(err, campaigns.ErrNotFound)
	})
	campaignstest.Passes(t, f, 3)
	got := campaign(t, m, alive)
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
	m, rdb := newManager(t)
	ctx := context.Background()
	name := campaignstest.Uniq("legacy")
	start(t, m, 5, "legacy.example", campaigns.Request{Name: name, Provider: "idle", StartAt: time.Now().Add(time.Hour)})
	// As an older build stored it: without the field. Then it may start.
	key := "resetq:campaign:{" + name + "}"
	require.NoError(t, rdb.HDel(ctx, key, "task_ids").Err())
	require.NoError(t, rdb.HSet(ctx, key, "start_at", time.Now().UnixMilli()).Err())
	startFeeder(t, m)
	campaignstest.Eventually(t, "fed", func() bool { return campaign(t, m, name).Inflight == 5 })
	insp := asynq.NewInspectorFromRedisClient(rdb)
	q := tasks.CampaignQueueName("idle")
	u := tasks.User{Email: "user1@legacy.example"}
	_, err := insp.GetTaskInfo(q, tasks.LegacyCampaignTaskID("idle", name, u))
	require.NoError(t, err, "fed under its old IDs")

	// Pausing finds its queued tasks by those IDs and takes them back.
	_, err = m.Pause(ctx, name)
	require.NoError(t, err)
	_, err = insp.GetTaskInfo(q, tasks.LegacyCampaignTaskID("idle", name, u))
	require.ErrorIs(t, err, asynq.ErrTaskNotFound)
	require.Zero(t, campaign(t, m, name).Inflight)
}
