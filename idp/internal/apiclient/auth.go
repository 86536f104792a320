package apiclient

import (
	"context"
	"net/http"
)

// WithToken makes r with a bearer from tokens. A 401 marks that token
// rejected, and r is made once more with a token fetched after the
// rejection; that answer is returned whatever it is, for the provider to
// classify (a 401 to a token the IdP just issued is not a stale token, and
// no retry will fix it). When a newer token was already cached as the 401
// came back, it was fetched before the rejection and may be dead too (a
// revocation that raced a refresh): it is tried, and after it one fetched
// afterwards.
//
// An error fetching the token is returned as it is, unless ctx ended
// first: then it is a network error of r.Op.
func WithToken[T comparable](ctx context.Context, c *Client, tokens *TokenCache[T], bearer func(T) string, r Request) (*Response, error) {
	retries := 1
	for attempt := 0; ; attempt++ {
		tok, err := tokens.Token(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, NetworkError(r.Op, ctx.Err())
			}
			return nil, err
		}
		r.Bearer = bearer(tok)
		res, err := c.Do(ctx, r)
		if err != nil || res.Status != http.StatusUnauthorized {
			return res, err
		}
		if !tokens.Invalidate(tok) && attempt == 0 {
			retries = 2
		}
		if attempt >= retries {
			return res, nil
		}
	}
}
