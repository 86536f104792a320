package redistest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/redisconn"
	"github.com/resetq/resetq/internal/redistest"
)

func TestStartStopRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := redistest.Start(t)
	c := s.Client(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	s.Stop()
	require.Error(t, c.Ping(ctx).Err(), "stopped means unreachable")
	require.NoError(t, s.Restart())
	require.NoError(t, c.Ping(ctx).Err())
	require.ErrorIs(t, c.Get(ctx, "k").Err(), redisNil(), "nothing is kept on disk")
	policy, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
	require.NoError(t, err)
	require.Equal(t, "noeviction", policy["maxmemory-policy"])
}

func redisNil() error { return redis.Nil }

func TestSentinelFailsOver(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	c, err := redisconn.Open(s.URL(), 0)
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	replica := s.Replica.Client(t)
	require.NoError(t, c.Set(ctx, "k", "before", 0).Err())
	require.Eventually(t, func() bool {
		v, err := replica.Get(ctx, "k").Result()
		return err == nil && v == "before"
	}, 10*time.Second, 10*time.Millisecond, "replicated")

	s.StopMaster(t)
	require.Eventually(t, func() bool { return c.Set(ctx, "k", "after", 0).Err() == nil }, 30*time.Second, 50*time.Millisecond,
		"the client follows the sentinels to the promoted replica")
	v, err := replica.Get(ctx, "k").Result()
	require.NoError(t, err)
	require.Equal(t, "after", v, "the replica is the master now")
}

func TestClusterSpreadsKeys(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3)
	c, err := redisconn.OpenCluster(redisconn.Cluster{Addrs: cl.Addrs()[:1]}, 0)
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	nodes := map[string]bool{}
	for i := range 30 {
		key := fmt.Sprintf("k%d", i)
		require.NoError(t, c.Set(ctx, key, i, 0).Err())
		n, err := c.(*redis.ClusterClient).MasterForKey(ctx, key)
		require.NoError(t, err)
		nodes[n.Options().Addr] = true
	}
	require.Len(t, nodes, 3, "the keys land on every shard")
}
