package worker

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The halted flag a task raises holds until Redis can have the halt: a
// read of Redis that overlapped it does not lower it; a read after it
// does.
func TestAReadOfRedisThatOverlapsAHaltDoesNotLowerItsFlag(t *testing.T) {
	t.Parallel()
	p := &provider{}

	before := p.raised()
	r := p.raise()
	require.True(t, p.halted.Load())
	halted, resumed := p.settle(false, before)
	require.True(t, halted, "read before the raise")
	require.False(t, resumed)

	during := p.raised()
	p.done(r, false)
	halted, _ = p.settle(false, during)
	require.True(t, halted, "read while the halt was on its way")

	after := p.raised()
	halted, resumed = p.settle(false, after)
	require.False(t, halted, "read after it: the provider was resumed since")
	require.True(t, resumed)
	require.False(t, p.halted.Load())
}

func TestARefusedHaltLowersOnlyTheFlagItRaised(t *testing.T) {
	t.Parallel()
	p := &provider{}
	a := p.raise()
	p.done(a, true)
	require.False(t, p.halted.Load(), "refused, and nothing else raised it")

	a = p.raise()
	b := p.raise() // another task's halt, raised while a's was on its way
	p.done(a, true)
	require.True(t, p.halted.Load(), "a does not lower what b raised since")
	p.done(b, false)
	require.True(t, p.halted.Load())

	c := p.raise()
	p.done(c, true)
	require.True(t, p.halted.Load(), "c found the flag up: it has nothing to lower")
}
