package halt

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/tasks"
)

// A resume that lands between a halt's record and its pause unpauses
// queues that are not paused yet; the halt's pause must not outlive it.
func TestAResumeBetweenAHaltsRecordAndItsPauseLeavesTheQueueRunning(t *testing.T) {
	t.Parallel()
	rdb, _ := StartWithQueue(t, "corp")
	ctx := context.Background()
	reg := New(rdb)
	reg.recorded = func() {
		res, err := New(rdb).Resume(ctx, "corp")
		require.NoError(t, err)
		require.NotNil(t, res.Was)
	}

	first, err := reg.Halt(ctx, State{Provider: "corp", Reason: "configuration", Since: time.Now()})
	require.NoError(t, err)
	require.True(t, first)
	st, err := reg.Get(ctx, "corp")
	require.NoError(t, err)
	require.Nil(t, st, "resumed")
	info, err := reg.insp.GetQueueInfo(tasks.QueueName("corp"))
	require.NoError(t, err)
	require.False(t, info.Paused, "a resumed provider's queue runs")
}
