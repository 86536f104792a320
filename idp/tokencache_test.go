package idp_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
)

func TestTokenCacheFetchesOnceForManyCallers(t *testing.T) {
	t.Parallel()
	var fetches atomic.Int32
	release := make(chan struct{})
	c := &idp.TokenCache[string]{Fetch: func(ctx context.Context, prev string) (string, time.Duration, error) {
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
	c := &idp.TokenCache[string]{Fetch: func(ctx context.Context, prev string) (string, time.Duration, error) {
		mu.Lock()
		prevs = append(prevs, prev)
		mu.Unlock()
		return "tok-" + string(rune('0'+n.Add(1))), 100 * time.Millisecond, nil
	}}
	ctx := context.Background()
	a, _ := c.Token(ctx)
	b, _ := c.Token(ctx)
	require.Equal(t, a, b, "cached")
	deadline := time.Now().Add(5 * time.Second)
	for b == a && time.Now().Before(deadline) {
		b, _ = c.Token(ctx) // after 80 ms of its 100 ms life
	}
	require.NotEqual(t, a, b, "replaced before it expired")

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
	c := &idp.TokenCache[string]{Fetch: func(ctx context.Context, prev string) (string, time.Duration, error) {
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
