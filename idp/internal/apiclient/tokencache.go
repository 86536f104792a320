package apiclient

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
// Once RefreshFraction of its life has passed, the next caller starts a
// fetch and every caller keeps the old token, still valid, until the new one
// arrives: a refresh never stalls the resets (a stall bunches them, and the
// IdP sees a burst over the pace). Callers wait only for a first token, an
// expired one or an invalidated one. A refresh that fails is tried again
// halfway to the expiry (a second apart at least), not at every call.
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
	// Now reads the clock; nil means time.Now. Tests move it by hand.
	Now func() time.Time

	mu        sync.Mutex
	tok       T
	valid     bool
	refreshAt time.Time // zero: never
	expireAt  time.Time // zero: never
	inflight  *fetch[T]
	// invalidations counts Invalidate calls that threw a token away. A
	// fetch that began before one may bring a token the IdP revoked in the
	// same breath, so it is not trusted.
	invalidations uint64
}

type fetch[T any] struct {
	done  chan struct{}
	since uint64 // invalidations when it began
	tok   T
	err   error
	stale bool
}

// Token returns a token with most of its life left, fetching one if needed.
func (c *TokenCache[T]) Token(ctx context.Context) (T, error) {
	for {
		now := c.now()
		c.mu.Lock()
		if c.valid && (c.refreshAt.IsZero() || now.Before(c.refreshAt)) {
			tok := c.tok
			c.mu.Unlock()
			return tok, nil
		}
		f := c.inflight
		if f == nil {
			f = &fetch[T]{done: make(chan struct{}), since: c.invalidations}
			c.inflight = f
			// The fetch outlives the caller that started it.
			go c.run(context.WithoutCancel(ctx), f, c.tok)
		}
		if c.valid && now.Before(c.expireAt) {
			tok := c.tok // still good while its replacement is fetched
			c.mu.Unlock()
			return tok, nil
		}
		c.mu.Unlock()
		select {
		case <-f.done:
			if !f.stale {
				return f.tok, f.err
			}
			// Invalidated while it was fetched: fetch again.
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
}

func (c *TokenCache[T]) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *TokenCache[T]) run(ctx context.Context, f *fetch[T], prev T) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	start := c.now()
	tok, life, err := c.Fetch(ctx, prev)
	c.mu.Lock()
	switch {
	case err == nil && f.since != c.invalidations:
		c.tok, c.valid, f.stale = tok, false, true // offered as prev to the next fetch
	case err == nil:
		c.tok, c.valid, c.refreshAt, c.expireAt = tok, true, time.Time{}, time.Time{}
		if life > 0 {
			c.refreshAt = start.Add(time.Duration(float64(life) * RefreshFraction))
			c.expireAt = start.Add(life)
		}
	case c.valid && !c.expireAt.IsZero():
		// The old token serves on; try again halfway to its end, a second
		// apart at least, and at its end at the latest.
		now := c.now()
		left := max(c.expireAt.Sub(now), 0)
		c.refreshAt = now.Add(min(max(left/2, time.Second), left))
	}
	c.inflight = nil
	c.mu.Unlock()
	f.tok, f.err = tok, err
	close(f.done)
}

// Invalidate marks tok stale if it is still the cached token, and reports
// whether it was. Comparing first means a rejection seen on an old token
// does not throw away a newer one another goroutine just fetched. The stale
// token stays available to Fetch as prev.
func (c *TokenCache[T]) Invalidate(tok T) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.valid && c.tok == tok {
		c.valid = false
		c.invalidations++
		return true
	}
	return false
}
