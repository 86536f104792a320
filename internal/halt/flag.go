package halt

import (
	"sync"
	"sync/atomic"
)

// Flag is what one process believes of a provider's halt: read by every
// task, raised at once when the process asks for a halt (before Redis has
// it), and settled from what Redis says by reads that overlapped no halt of
// its own. It also keeps the provider's generation as last read, which can
// lag a resume, never lead one.
type Flag struct {
	halted     atomic.Bool
	generation atomic.Int64
	// mu orders the writes of halted; raises counts the halts this process
	// asked for, pending those on their way to Redis.
	mu              sync.Mutex
	raises, pending int
}

// Halted reports whether the provider is halted, as far as this process
// knows.
func (f *Flag) Halted() bool { return f.halted.Load() }

// Generation is the provider's generation as last read.
func (f *Flag) Generation() int64 { return f.generation.Load() }

// KeepGeneration keeps a generation read from Redis.
func (f *Flag) KeepGeneration(g int64) { f.generation.Store(g) }

// Raise is one halt this process asks for.
type Raise struct {
	n int
	// flagged: this halt raised the flag (it was down).
	flagged bool
}

// Raise raises the flag for a halt this process is about to ask for.
func (f *Flag) Raise() Raise {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.raises++
	f.pending++
	return Raise{n: f.raises, flagged: !f.halted.Swap(true)}
}

// Done ends a halt Raise began, once Redis answered. A refused halt
// (ErrSuperseded) lowers the flag it raised, unless another halt raised
// it since.
func (f *Flag) Done(r Raise, refused bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending--
	if refused && r.flagged && r.n == f.raises {
		f.halted.Store(false)
	}
}

// BeforeRead is what a read of Redis notes before it begins, for Settle.
func (f *Flag) BeforeRead() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending > 0 {
		return -1 // a halt is on its way: the read cannot lower the flag
	}
	return f.raises
}

// Settle keeps what Redis said, read after BeforeRead returned before. A
// read that overlapped a halt this process asked for cannot lower the
// flag: the halt may not have reached Redis when it was read. It returns
// the flag, and whether it lowered it.
func (f *Flag) Settle(st Status, before int) (halted, resumed bool) {
	f.generation.Store(st.Generation)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !st.Halted && (before < 0 || f.raises != before) {
		return f.halted.Load(), false
	}
	return st.Halted, f.halted.Swap(st.Halted) && !st.Halted
}
