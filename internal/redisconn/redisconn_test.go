package redisconn_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/redisconn"
	"github.com/resetq/resetq/internal/redistest"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	c, err := redisconn.Open(s.URL(3), 7)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Set(context.Background(), "k", "v", 0).Err())
	opt := c.(*redis.Client).Options()
	require.Equal(t, 3, opt.DB)
	require.Equal(t, 2, opt.Protocol)
	require.Equal(t, 7, opt.PoolSize)

	for _, bad := range []string{"http://x", "redis-sentinel://h:26379", "redis-socket://", "redis://h/notanumber", "::"} {
		_, err := redisconn.Open(bad, 0)
		require.Error(t, err, bad)
	}
	f, err := redisconn.Open("redis-sentinel://:pw@h1:26379,h2:26379/2?master=mymaster&sentinel_password=spw", 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = redisconn.OpenCluster(redisconn.Cluster{}, 0)
	require.ErrorContains(t, err, "no addresses")
}
