package keycloak

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

// refreshFraction is how much of a token's life may pass before it is
// replaced: a fifth is left as margin (reference/pitfalls.md §1), which for
// master's 60 s tokens is 12 s.
const refreshFraction = 0.8

// tokenCache holds one admin token and replaces it before it expires.
//
// oauth2.ReuseTokenSource does most of this, but it cannot be told that a
// token was rejected (a 401 must fetch a new one even though the old one has
// not expired), and it fetches with the context it was built with instead of
// the caller's. So this small cache does the same job with those two
// additions: Invalidate, and fetches that a caller can stop waiting for
// without cancelling them for everyone else.
type tokenCache struct {
	fetch   func(ctx context.Context, prev *oauth2.Token) (*oauth2.Token, error)
	timeout time.Duration
	now     func() time.Time

	mu        sync.Mutex
	tok       *oauth2.Token
	refreshAt time.Time
	group     singleflight.Group
}

// Token returns a token that has most of its life left, fetching one if
// needed. However many goroutines ask at once, one fetch is in flight.
func (c *tokenCache) Token(ctx context.Context) (*oauth2.Token, error) {
	c.mu.Lock()
	tok, fresh := c.tok, c.tok != nil && c.now().Before(c.refreshAt)
	c.mu.Unlock()
	if fresh {
		return tok, nil
	}
	ch := c.group.DoChan("token", func() (any, error) {
		// Another caller may have refreshed while this one waited to enter.
		c.mu.Lock()
		prev := c.tok
		if prev != nil && c.now().Before(c.refreshAt) {
			c.mu.Unlock()
			return prev, nil
		}
		c.mu.Unlock()

		// The fetch outlives the caller that started it: the others waiting
		// on it must not fail because the first one gave up.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		start := c.now()
		t, err := c.fetch(fctx, prev)
		if err != nil {
			return nil, err
		}
		if t.AccessToken == "" {
			return nil, errors.New("token endpoint answered without an access_token")
		}
		life := time.Duration(t.ExpiresIn) * time.Second
		if life <= 0 && !t.Expiry.IsZero() {
			life = t.Expiry.Sub(start)
		}
		if life <= 0 {
			life = time.Minute // no expiry given: assume master's default
		}
		c.mu.Lock()
		c.tok = t
		c.refreshAt = start.Add(time.Duration(float64(life) * refreshFraction))
		c.mu.Unlock()
		return t, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*oauth2.Token), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Invalidate marks tok stale if it is still the cached token, so the next
// Token call fetches a new one (by refresh token, where there is one).
// Comparing first means a 401 seen on an old token does not throw away a
// newer one another goroutine just fetched.
func (c *tokenCache) Invalidate(tok *oauth2.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == tok {
		c.refreshAt = time.Time{}
	}
}
