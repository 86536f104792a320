package apiclient_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/internal/apiclient"
	"github.com/resetq/resetq/internal/testclock"
)

func TestTokenCacheFetchesOnceForManyCallers(t *testing.T) {
	t.Parallel()
	var fetches atomic.Int32
	release := make(chan struct{})
	c := &apiclient.TokenCache[string]{Fetch: func(ctx context.Context, prev string) (string, time.Duration, error) {
		fetches.Add(1)
		<-release
		return "tok-1", time.Hour, nil
	}}
	var wg sync.WaitGroup
	got := make(chan string, 50)
	for range 50 {
		wg.Go(func() {
			tok, err := c.Token(context.Background())
			require.NoError(t, err)
			got <- tok
		})
	}
	close(release)
	wg.Wait()
	close(got)
	for tok := range got {
		require.Equal(t, "tok-1", tok)
	}
	require.EqualValues(t, 1, fetches.Load())
}

func TestTokenCacheRefreshesEarlyAndAfterInvalidate(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	var prevs []string
	var mu sync.Mutex
	clock := testclock.New(time.Unix(1_000_000, 0))
	c := &apiclient.TokenCache[string]{Now: clock.Now, Fetch: func(ctx context.Context, prev string) (string, time.Duration, error) {
		mu.Lock()
		prevs = append(prevs, prev)
		mu.Unlock()
		return fmt.Sprintf("tok-%d", n.Add(1)), 100 * time.Millisecond, nil
	}}
	ctx := context.Background()
	a, _ := c.Token(ctx)
	clock.Add(79 * time.Millisecond)
	b, _ := c.Token(ctx)
	require.Equal(t, a, b, "cached until 80 % of its life")
	require.EqualValues(t, 1, n.Load())
	clock.Add(time.Millisecond)
	require.Eventually(t, func() bool { b, _ = c.Token(ctx); return b != a }, 5*time.Second, time.Millisecond,
		"replaced before it expired")

	c.Invalidate("some-older-token")
	same, _ := c.Token(ctx)
	require.Equal(t, b, same, "invalidating an old token keeps the new one")
	c.Invalidate(b)
	d, _ := c.Token(ctx)
	require.NotEqual(t, b, d)
	mu.Lock()
	require.Equal(t, b, prevs[len(prevs)-1], "the rejected token is offered as prev")
	mu.Unlock()
}

func TestTokenCacheDoesNotCacheErrorsAndSurvivesImpatientCallers(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	slow := make(chan struct{})
	c := &apiclient.TokenCache[string]{Fetch: func(ctx context.Context, prev string) (string, time.Duration, error) {
		if n.Add(1) == 1 {
			return "", 0, errors.New("denied")
		}
		<-slow
		return "tok", 0, nil
	}}
	_, err := c.Token(context.Background())
	require.EqualError(t, err, "denied")

	impatient, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Token(impatient)
	require.ErrorIs(t, err, context.Canceled)
	close(slow)
	tok, err := c.Token(context.Background())
	require.NoError(t, err)
	require.Equal(t, "tok", tok, "the fetch the impatient caller started still finished")
	require.EqualValues(t, 2, n.Load())
	tok2, _ := c.Token(context.Background())
	require.Equal(t, tok, tok2, "life 0 never expires")
}

func TestTokenCacheRefreshDoesNotStallCallers(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	second := make(chan struct{})
	clock := testclock.New(time.Unix(1_000_000, 0))
	c := &apiclient.TokenCache[string]{Now: clock.Now, Fetch: func(ctx context.Context, prev string) (string, time.Duration, error) {
		if n.Add(1) == 2 {
			<-second // the refresh hangs until the test lets it go
			return "tok-2", time.Hour, nil
		}
		return "tok-1", time.Second, nil
	}}
	first, err := c.Token(context.Background())
	require.NoError(t, err)
	require.Equal(t, "tok-1", first)
	// Past 80 % of its life the refresh starts; until it lands, callers get
	// the old token at once (a caller that waited would hit its deadline).
	clock.Add(900 * time.Millisecond)
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		tok, err := c.Token(ctx)
		cancel()
		require.NoError(t, err, "a refresh in flight does not make callers wait")
		require.Equal(t, "tok-1", tok)
	}
	require.Eventually(t, func() bool { return n.Load() == 2 }, 5*time.Second, time.Millisecond, "the refresh started")
	close(second)
	tok := "tok-1"
	require.Eventually(t, func() bool { tok, err = c.Token(context.Background()); return err != nil || tok == "tok-2" },
		5*time.Second, time.Millisecond)
	require.NoError(t, err)
	require.EqualValues(t, 2, n.Load(), "one refresh for all those callers")
}

func TestTokenCacheDistrustsAFetchThatATokenRejectionOverlapped(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	gate := make(chan struct{})
	clock := testclock.New(time.Unix(1_000_000, 0))
	c := &apiclient.TokenCache[string]{Now: clock.Now, Fetch: func(ctx context.Context, prev string) (string, time.Duration, error) {
		k := n.Add(1)
		if k == 2 {
			<-gate // a refresh the IdP answers while it revokes every token
		}
		return fmt.Sprintf("tok-%d", k), time.Second, nil
	}}
	ctx := context.Background()
	old, err := c.Token(ctx)
	require.NoError(t, err)
	clock.Add(900 * time.Millisecond) // past its refresh point
	still, err := c.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, old, still, "served while the refresh is out")
	require.Eventually(t, func() bool { return n.Load() == 2 }, 5*time.Second, time.Millisecond, "the refresh started")
	c.Invalidate(old) // the IdP rejected it while the refresh was out
	got := make(chan string)
	go func() {
		tok, err := c.Token(ctx)
		if err != nil {
			tok = err.Error()
		}
		got <- tok
	}()
	close(gate)
	require.Equal(t, "tok-3", <-got, "the overlapped fetch's token is not handed out; a new one is fetched")
	require.EqualValues(t, 3, n.Load())
}

func TestTokenCacheFailedRefreshIsNotRetriedAtEveryCall(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	clock := testclock.New(time.Unix(1_000_000, 0))
	c := &apiclient.TokenCache[string]{Now: clock.Now, Fetch: func(ctx context.Context, prev string) (string, time.Duration, error) {
		if n.Add(1) == 1 {
			return "tok-1", time.Second, nil
		}
		return "", 0, errors.New("token endpoint down")
	}}
	ctx := context.Background()
	_, err := c.Token(ctx)
	require.NoError(t, err)
	// From 800 ms the refresh fails; the old token serves until 1 s, and
	// the next try comes halfway to its end (here: its end), not at every
	// call.
	clock.Add(850 * time.Millisecond)
	for range 100 {
		tok, err := c.Token(ctx)
		require.NoError(t, err)
		require.Equal(t, "tok-1", tok)
	}
	require.Eventually(t, func() bool { return n.Load() == 2 }, 5*time.Second, time.Millisecond, "the refresh started")
	clock.Add(100 * time.Millisecond)
	for range 100 {
		tok, err := c.Token(ctx)
		require.NoError(t, err)
		require.Equal(t, "tok-1", tok)
	}
	require.EqualValues(t, 2, n.Load(), "200 calls while the token served on made one refresh")
	clock.Add(100 * time.Millisecond) // expired: now the error reaches the caller
	require.Eventually(t, func() bool { _, err = c.Token(ctx); return err != nil }, 5*time.Second, time.Millisecond)
	require.EqualError(t, err, "token endpoint down")
}
