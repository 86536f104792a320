package deploysecret_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/deploysecret"
	"github.com/resetq/resetq/internal/redistest"
)

func TestEveryProcessOnOneRedisAgreesOnTheSecret(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := context.Background()
	got := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			// Each its own connection, as separate processes would have.
			s, err := deploysecret.NewSource(srv.Client(t)).Get(ctx)
			require.NoError(t, err)
			got[i] = s
		})
	}
	wg.Wait()
	for _, s := range got[1:] {
		require.Equal(t, got[0], s)
	}
	require.Len(t, got[0], 32)

	other, err := deploysecret.Load(ctx, redistest.Start(t).Client(t))
	require.NoError(t, err)
	require.NotEqual(t, got[0], other, "another deployment has its own")
}

func TestSubkeysDifferByPurpose(t *testing.T) {
	t.Parallel()
	s := []byte("0123456789abcdef0123456789abcdef")
	require.Equal(t, deploysecret.Derive(s, "task-id"), deploysecret.Derive(s, "task-id"))
	require.NotEqual(t, deploysecret.Derive(s, "task-id"), deploysecret.Derive(s, "log-user"))
	require.NotEqual(t, s, deploysecret.Derive(s, "task-id")[:len(s)])
}

func TestACorruptSecretIsAnError(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	require.NoError(t, rdb.Set(context.Background(), deploysecret.Key, "short", 0).Err())
	_, err := deploysecret.Load(context.Background(), rdb)
	require.ErrorContains(t, err, "corrupt")
}

func TestARedisThatLostTheSecretGetsTheRunningOneBack(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	running := deploysecret.NewSource(rdb)
	running.SetRecheck(0)
	s, err := running.Get(ctx)
	require.NoError(t, err)

	require.NoError(t, rdb.Del(ctx, deploysecret.Key).Err()) // restarted empty
	again, err := running.Get(ctx)
	require.NoError(t, err)
	require.Equal(t, s, again)
	started, err := deploysecret.NewSource(rdb).Get(ctx)
	require.NoError(t, err)
	require.Equal(t, s, started, "a process started now agrees with the running ones")

	cached := deploysecret.NewSource(rdb)
	_, err = cached.Get(ctx)
	require.NoError(t, err)
	require.NoError(t, rdb.Set(ctx, deploysecret.Key, "Zm9vYmFyYmF6Zm9vYmFyYmF6Zm9vYmFyYmF6Zm9vYmE", 0).Err())
	kept, err := cached.Get(ctx)
	require.NoError(t, err)
	require.Equal(t, s, kept, "read again only after Recheck")
}
