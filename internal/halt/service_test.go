package halt_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/webhook"
)

// events keeps what a Service emits.
type events struct {
	mu   sync.Mutex
	got  []webhook.Event
	fail error
}

func (e *events) Emit(_ context.Context, ev webhook.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail != nil {
		return e.fail
	}
	e.got = append(e.got, ev)
	return nil
}

func (e *events) ofType(typ string) []webhook.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []webhook.Event
	for _, ev := range e.got {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

func haltState(provider string, gen int64) halt.State {
	return halt.State{Provider: provider, Reason: "credentials_rejected", Hint: "check the secret",
		Since: time.Now().UTC().Truncate(time.Second), Generation: gen}
}

func TestResumesThatRaceLiftTheHaltOnceAndEmitOneEvent(t *testing.T) {
	t.Parallel()
	rdb, _ := halt.StartWithQueue(t, "corp")
	ctx := context.Background()
	ev := &events{}
	svc := halt.NewService(rdb, ev, nil)

	first, err := svc.Halt(ctx, haltState("corp", 0))
	require.NoError(t, err)
	require.True(t, first)
	again, err := svc.Halt(ctx, haltState("corp", 0))
	require.NoError(t, err)
	require.False(t, again)
	require.Len(t, ev.ofType(webhook.ProviderHalted), 1, "one provider.halted, from the first halt")

	const callers = 8
	var wg sync.WaitGroup
	lifted := make(chan bool, callers)
	for range callers {
		// Each its own Service, as each CLI run or API process has.
		other := halt.NewService(rdb, ev, nil)
		wg.Go(func() {
			res, err := other.Resume(ctx, "corp")
			require.NoError(t, err)
			lifted <- res.Was != nil
		})
	}
	wg.Wait()
	close(lifted)
	n := 0
	for l := range lifted {
		if l {
			n++
		}
	}
	require.Equal(t, 1, n, "one resume lifted the halt")
	resumed := ev.ofType(webhook.ProviderResumed)
	require.Len(t, resumed, 1, "one provider.resumed")
	require.Equal(t, "corp", resumed[0].Data.(webhook.ResumeData).Provider)

	gen, err := svc.Generation(ctx, "corp")
	require.NoError(t, err)
	require.Equal(t, int64(1), gen, "one resume, one new generation")
}

func TestAHaltAskedForBeforeAResumeDoesNotLandAfterIt(t *testing.T) {
	t.Parallel()
	rdb, insp := halt.StartWithQueue(t, "corp")
	ctx := context.Background()
	ev := &events{}
	svc := halt.NewService(rdb, ev, nil)

	// Two attempts start under the same generation; the first halts.
	started, err := svc.Generation(ctx, "corp")
	require.NoError(t, err)
	_, err = svc.Halt(ctx, haltState("corp", started))
	require.NoError(t, err)
	_, err = svc.Resume(ctx, "corp")
	require.NoError(t, err)

	// The second fails with the old cause after the resume.
	first, err := svc.Halt(ctx, haltState("corp", started))
	require.ErrorIs(t, err, halt.ErrSuperseded)
	require.False(t, first)
	st, err := svc.Get(ctx, "corp")
	require.NoError(t, err)
	require.Nil(t, st, "the provider stays resumed")
	info, err := insp.GetQueueInfo(tasks.QueueName("corp"))
	require.NoError(t, err)
	require.False(t, info.Paused, "its queue stays unpaused")
	require.Len(t, ev.ofType(webhook.ProviderHalted), 1, "no second provider.halted")

	// An attempt started after the resume halts it again.
	now, err := svc.Generation(ctx, "corp")
	require.NoError(t, err)
	require.Equal(t, started+1, now)
	first, err = svc.Halt(ctx, haltState("corp", now))
	require.NoError(t, err)
	require.True(t, first)
	st, err = svc.Get(ctx, "corp")
	require.NoError(t, err)
	require.Equal(t, now, st.Generation)
}

func TestAResumeWhoseEventCannotBeQueuedStillResumes(t *testing.T) {
	t.Parallel()
	rdb, _ := halt.StartWithQueue(t, "corp")
	ctx := context.Background()
	ev := &events{fail: errors.New("redis is read-only")}
	svc := halt.NewService(rdb, ev, nil)
	_, err := svc.Halt(ctx, haltState("corp", 0))
	require.NoError(t, err, "a lost provider.halted event does not undo the halt")

	res, err := svc.Resume(ctx, "corp")
	require.ErrorIs(t, err, halt.ErrEventNotQueued)
	require.NotNil(t, res.Was)
	st, err := svc.Get(ctx, "corp")
	require.NoError(t, err)
	require.Nil(t, st)

	res, err = svc.Resume(ctx, "corp")
	require.NoError(t, err, "resuming a running provider emits nothing, so nothing fails")
	require.Nil(t, res.Was)
}
