package apiclient_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/internal/apiclient"
)

// idpWithRevocations answers 200 to a bearer it has not revoked and 401 to
// one it has.
type idpWithRevocations struct {
	mu      sync.Mutex
	revoked map[string]bool
	seen    []string
	// onCall runs before a call is answered.
	onCall func(bearer string)
}

func (s *idpWithRevocations) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bearer := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if s.onCall != nil {
		s.onCall(bearer)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, bearer)
	if s.revoked[bearer] {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *idpWithRevocations) revoke(toks ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range toks {
		s.revoked[t] = true
	}
}

// setup returns a token source that numbers its tokens (tok-1, tok-2, …)
// and an IdP that honours revocations, serving at the URL returned.
func setup(t *testing.T) (*apiclient.TokenCache[string], *idpWithRevocations, string) {
	var mu sync.Mutex
	n := 0
	tokens := &apiclient.TokenCache[string]{Fetch: func(context.Context, string) (string, time.Duration, error) {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("tok-%d", n), time.Hour, nil
	}}
	idp := &idpWithRevocations{revoked: map[string]bool{}}
	srv := httptest.NewServer(idp)
	t.Cleanup(srv.Close)
	return tokens, idp, srv.URL
}

// TestARevocationThatRacedARefreshCostsNoRejection: a token the IdP has
// revoked is answered 401 while a refresh lands a replacement issued before
// the revocation. The replacement is tried, and then one fetched after the
// rejection: the call succeeds instead of reporting rejected credentials.
func TestARevocationThatRacedARefreshCostsNoRejection(t *testing.T) {
	t.Parallel()
	tokens, idp, url := setup(t)
	ctx := context.Background()
	first, err := tokens.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-1", first)

	idp.onCall = func(bearer string) {
		if bearer != "tok-1" {
			return
		}
		// While tok-1's call is in flight, another caller replaces it
		// (tok-2), and then the IdP revokes every token issued so far.
		require.True(t, tokens.Invalidate("tok-1"))
		tok, err := tokens.Token(ctx)
		require.NoError(t, err)
		require.Equal(t, "tok-2", tok)
		idp.revoke("tok-1", "tok-2")
	}
	c := &apiclient.Client{Timeout: 10 * time.Second}
	res, err := apiclient.WithToken(ctx, c, tokens, func(s string) string { return s }, apiclient.Request{Op: "lookup", Method: http.MethodGet, URL: url})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.Status)
	require.Equal(t, []string{"tok-1", "tok-2", "tok-3"}, idp.seen)
}

// TestA401ToAFreshTokenIsReturnedAfterOneRetry: credentials the IdP
// rejects whatever the token cost one retry, not more.
func TestA401ToAFreshTokenIsReturnedAfterOneRetry(t *testing.T) {
	t.Parallel()
	tokens, idp, url := setup(t)
	idp.onCall = func(bearer string) { idp.revoke(bearer) }
	res, err := apiclient.WithToken(context.Background(), &apiclient.Client{Timeout: 10 * time.Second}, tokens, func(s string) string { return s },
		apiclient.Request{Op: "lookup", Method: http.MethodGet, URL: url})
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, res.Status)
	require.Equal(t, []string{"tok-1", "tok-2"}, idp.seen)
}
