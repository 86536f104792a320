package halt_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/halt"
)

// The flag a process raises holds until Redis can have the halt: a read of
// Redis that overlapped it does not lower it; a read after it does.
func TestAReadOfRedisThatOverlapsAHaltDoesNotLowerItsFlag(t *testing.T) {
	t.Parallel()
	var f halt.Flag

	before := f.BeforeRead()
	r := f.Raise()
	require.True(t, f.Halted())
	halted, resumed := f.Settle(halt.Status{}, before)
	require.True(t, halted, "read before the raise")
	require.False(t, resumed)

	during := f.BeforeRead()
	f.Done(r, false)
	halted, _ = f.Settle(halt.Status{}, during)
	require.True(t, halted, "read while the halt was on its way")

	after := f.BeforeRead()
	halted, resumed = f.Settle(halt.Status{Generation: 1}, after)
	require.False(t, halted, "read after it: the provider was resumed since")
	require.True(t, resumed)
	require.False(t, f.Halted())
	require.Equal(t, int64(1), f.Generation(), "the generation read is kept")

	halted, resumed = f.Settle(halt.Status{Halted: true, Generation: 1}, f.BeforeRead())
	require.True(t, halted, "a halt read from Redis raises it")
	require.False(t, resumed)
}

func TestARefusedHaltLowersOnlyTheFlagItRaised(t *testing.T) {
	t.Parallel()
	var f halt.Flag
	a := f.Raise()
	f.Done(a, true)
	require.False(t, f.Halted(), "refused, and nothing else raised it")

	a = f.Raise()
	b := f.Raise() // another task's halt, raised while a's was on its way
	f.Done(a, true)
	require.True(t, f.Halted(), "a does not lower what b raised since")
	f.Done(b, false)
	require.True(t, f.Halted())

	c := f.Raise()
	f.Done(c, true)
	require.True(t, f.Halted(), "c found the flag up: it has nothing to lower")
}
