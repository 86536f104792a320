package worker_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// A campaign task's row is in its payload; one queued by an earlier build
// carries it in a header instead. Either way the outcome lands on that row.
func TestACampaignTaskRecordsItsRow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.client.StartCampaign(ctx, strings.NewReader("email\nr0@example.org\nr1@example.org\nr2@example.org\n"),
		producer.CampaignRequest{Name: "rows", Provider: provider})
	require.NoError(t, err)

	enqueue := func(row int, email string, header bool) {
		p := tasks.Payload{V: tasks.PayloadVersion, Requester: tasks.Requester{Actor: "app:test"}, Provider: provider, User: tasks.User{Email: email},
			Campaign: "rows", RequestedAt: time.Now()}
		headers := map[string]string{}
		if header {
			headers[tasks.CampaignRowHeader] = strconv.Itoa(row)
		} else {
			p.CampaignRow = row
		}
		body, err := p.Encode()
		require.NoError(t, err)
		_, err = asynq.NewClientFromRedisClient(b.rdb).Enqueue(asynq.NewTaskWithHeaders(tasks.TypeReset, body, headers),
			asynq.Queue(tasks.CampaignQueueName(provider)), asynq.MaxRetry(0))
		require.NoError(t, err)
	}
	enqueue(1, "r1@example.org", false)
	enqueue(2, "r2@example.org", true)

	store := campaigns.NewStore(b.rdb)
	c, err := store.Get(ctx, "rows")
	require.NoError(t, err)
	outcome := func(row int) tasks.Outcome {
		rec, err := store.Outcome(ctx, c, row)
		require.NoError(t, err)
		return rec.Outcome
	}
	eventually(t, func() bool { return outcome(1) == tasks.Succeeded && outcome(2) == tasks.Succeeded },
		"rows 1 (payload) and 2 (header) succeeded")
	require.Empty(t, outcome(0), "row 0 had no task")
	require.Len(t, b.idp.all(), 2, "one call a row")
}
