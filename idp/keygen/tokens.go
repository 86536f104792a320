package keygen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// mintedToken is a token minted with a password: its id, to revoke it, and
// its secret.
type mintedToken struct {
	id, value string
}

// heldTokens are the minted tokens that may still be valid: the current one
// and, after a refresh, the one it replaced, which calls in flight may still
// use until it expires.
type heldTokens struct {
	mu       sync.Mutex
	tokens   map[mintedToken]time.Time // expiry
	released bool
}

func (h *heldTokens) add(t mintedToken, expiry time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tokens == nil {
		h.tokens = map[mintedToken]time.Time{}
	}
	now := time.Now()
	for old, end := range h.tokens {
		if !end.After(now) {
			delete(h.tokens, old)
		}
	}
	h.tokens[t] = expiry
}

func (h *heldTokens) isReleased() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.released
}

// release marks the set released and returns the tokens still valid.
func (h *heldTokens) release() []mintedToken {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.released = true
	var out []mintedToken
	now := time.Now()
	for t, end := range h.tokens {
		if end.After(now) {
			out = append(out, t)
		}
	}
	h.tokens = nil
	return out
}

// mint creates a token with HTTP Basic, with an explicit expiry: Keygen
// returns its secret once, and gives an admin's token no expiry unless
// asked for one.
func (p *Provider) mint(ctx context.Context, _ mintedToken) (mintedToken, time.Duration, error) {
	if p.held.isReleased() {
		return mintedToken{}, 0, &idp.Error{Kind: idp.Transient, Op: idp.OpToken,
			Message: "the provider was released: it mints no new token"}
	}
	expiry := time.Now().Add(p.cfg.TokenExpiry).UTC().Truncate(time.Second)
	body := fmt.Appendf(nil, `{"data":{"type":"tokens","attributes":{"name":"resetq","expiry":%q}}}`, expiry.Format(time.RFC3339))
	res, err := p.client.Do(ctx, apiclient.Request{Op: idp.OpToken, Method: http.MethodPost, URL: p.accountURL("/tokens"),
		Basic: [2]string{p.cfg.Email, p.cfg.Password}, Body: body, Header: p.adminHeader})
	if err != nil {
		return mintedToken{}, 0, err
	}
	if res.Status != http.StatusCreated && res.Status != http.StatusOK {
		return mintedToken{}, 0, p.classify(idp.OpToken, res)
	}
	var doc struct {
		Data struct {
			ID         string `json:"id"`
			Attributes struct {
				Token  string     `json:"token"`
				Expiry *time.Time `json:"expiry"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := res.Decode(&doc); err != nil || doc.Data.Attributes.Token == "" {
		return mintedToken{}, 0, &idp.Error{Kind: idp.Configuration, Op: idp.OpToken, Status: res.Status,
			Message: "the token endpoint answered without a token", Hint: "check base_url: is it a Keygen server?"}
	}
	tok := mintedToken{id: doc.Data.ID, value: doc.Data.Attributes.Token}
	end := expiry
	if e := doc.Data.Attributes.Expiry; e != nil && e.Before(end) {
		end = *e
	}
	p.held.add(tok, end)
	life := time.Until(end)
	if life <= 0 {
		return mintedToken{}, 0, &idp.Error{Kind: idp.Configuration, Op: idp.OpToken, Status: res.Status,
			Message: "Keygen minted a token that has already expired", Hint: "check the clock of this machine"}
	}
	return tok, life, nil
}

// Release revokes every minted token that may still be valid
// (DELETE …/tokens/{id}, authenticated by the token itself), so that a
// worker that stops leaves no token behind. A token Keygen no longer knows,
// or no longer accepts, is gone already. With a static token it does
// nothing: that token is the operator's.
func (p *Provider) Release(ctx context.Context) error {
	var errs []error
	for _, t := range p.held.release() {
		if t.id == "" {
			continue // a server that did not say; it expires by itself
		}
		res, err := p.client.Do(ctx, apiclient.Request{Op: idp.OpToken, Method: http.MethodDelete,
			URL: p.accountURL("/tokens/" + url.PathEscape(t.id)), Bearer: t.value, Header: p.adminHeader})
		switch {
		case err != nil:
			errs = append(errs, err)
		case res.Status == http.StatusNoContent, res.Status == http.StatusOK,
			res.Status == http.StatusNotFound, res.Status == http.StatusUnauthorized:
		default:
			errs = append(errs, p.classify(idp.OpToken, res))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("keygen: revoking the minted token (it expires by itself within %s): %w", p.cfg.TokenExpiry, err)
	}
	return nil
}
