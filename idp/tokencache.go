package idp

import (
	"context"
	"sync"
	"time"
)

// RefreshFraction is how much of a token's life may pass before it is
// replaced: a fifth is kept as margin (reference/pitfalls.md §1), which for
// Keycloak master's 60 s tokens is 12 s.
const RefreshFraction = 0.8

// TokenCache holds one credential and replaces it before it expires.
//
// However many goroutines ask at once, one fetch is in flight: IdPs throttle
// token minting (Keygen: 5 a minute) or lock out concurrent logins
// (Keycloak's brute-force detection). A caller that stops waiting does not
// cancel the fetch for the others. Invalidate marks a token the IdP
// rejected, so the next call fetches a new one even if it has not expired.
type TokenCache[T comparable] struct {
	// Fetch gets a new token. prev is the one being replaced (the zero
	// value at first), for refresh-token flows. life is how long the new
	// token is valid; 0 means it does not expire.
	Fetch func(ctx context.Context, prev T) (tok T, life time.Duration, err error)
	// Timeout bounds one fetch.
	Timeout time.Duration

	mu        sync.Mutex
	tok       T
	valid     bool
	refreshAt time.Time // zero: never
	inflight  *fetch[T]
}

type fetch[T any] struct {
	done chan struct{}
	tok  T
	err  error
}

// Token returns a token with most of its life left, fetching one if needed.
func (c *TokenCache[T]) Token(ctx context.Context) (T, error) {
	c.mu.Lock()
	if c.valid && (c.refreshAt.IsZero() || time.Now().Before(c.refreshAt)) {
		tok := c.tok
		c.mu.Unlock()
		return tok, nil
	}
	f := c.inflight
	if f == nil {
		f = &fetch[T]{done: make(chan struct{})}
		c.inflight = f
		prev := c.tok
		// The fetch outlives the caller that started it.
		go c.run(context.WithoutCancel(ctx), f, prev)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

func (c *TokenCache[T]) run(ctx context.Context, f *fetch[T], prev T) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	start := time.Now()
	tok, life, err := c.Fetch(ctx, prev)
	c.mu.Lock()
	if err == nil {
		c.tok, c.valid, c.refreshAt = tok, true, time.Time{}
		if life > 0 {
			c.refreshAt = start.Add(time.Duration(float64(life) * RefreshFraction))
		}
	}
	c.inflight = nil
	c.mu.Unlock()
	f.tok, f.err = tok, err
	close(f.done)
}

// Invalidate marks tok stale if it is still the cached token. Comparing
// first means a rejection seen on an old token does not throw away a newer
// one another goroutine just fetched. The stale token stays available to
// Fetch as prev.
func (c *TokenCache[T]) Invalidate(tok T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.valid && c.tok == tok {
		c.valid = false
	}
}
