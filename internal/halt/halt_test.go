package halt_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/tasks"
)

func TestHaltIsRecordedOnceAndResumeLiftsIt(t *testing.T) {
	t.Parallel()
	rdb, insp := halt.StartWithQueue(t, "corp")
	ctx := context.Background()
	reg := halt.New(rdb)

	st := halt.State{Provider: "corp", Reason: "configuration", Hint: "configure SMTP", Since: time.Now().UTC().Truncate(time.Second)}
	first, err := reg.Halt(ctx, st)
	require.NoError(t, err)
	require.True(t, first)
	again, err := reg.Halt(ctx, halt.State{Provider: "corp", Reason: "permission_denied"})
	require.NoError(t, err)
	require.False(t, again, "the first halt's reason is kept")

	got, err := reg.Get(ctx, "corp")
	require.NoError(t, err)
	require.Equal(t, &st, got)
	info, err := insp.GetQueueInfo(tasks.QueueName("corp"))
	require.NoError(t, err)
	require.True(t, info.Paused)
	statuses, err := reg.Statuses(ctx, []string{"corp", "other"})
	require.NoError(t, err)
	require.Equal(t, map[string]halt.Status{"corp": {Halted: true}, "other": {}}, statuses)

	res, err := reg.Resume(ctx, "corp")
	require.NoError(t, err)
	require.Equal(t, &st, res.Was)
	info, err = insp.GetQueueInfo(tasks.QueueName("corp"))
	require.NoError(t, err)
	require.False(t, info.Paused)
	got, err = reg.Get(ctx, "corp")
	require.NoError(t, err)
	require.Nil(t, got)

	statuses, err = reg.Statuses(ctx, []string{"corp", "other"})
	require.NoError(t, err)
	require.Equal(t, map[string]halt.Status{"corp": {Generation: 1}, "other": {}}, statuses, "the resume began a generation")

	res, err = reg.Resume(ctx, "corp")
	require.NoError(t, err, "resuming a running provider is harmless")
	require.Nil(t, res.Was)
	gen, err := reg.Generation(ctx, "corp")
	require.NoError(t, err)
	require.Equal(t, int64(1), gen, "and begins no generation")
}
