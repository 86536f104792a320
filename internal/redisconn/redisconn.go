package redisconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Open connects to the Redis rawURL names:
//
//	redis://[user:password@]host:port/db      plain TCP
//	rediss://[user:password@]host:port/db     TLS
//	redis-socket://[:password@]/path?db=N     Unix socket
//	redis-sentinel://[user:password@]h1:26379,h2:26379/db?master=NAME[&sentinel_password=P]
//
// The sentinels are asked for the master, and asked again when it changes:
// a failover costs a reconnect. Their password is the master's unless
// sentinel_password says otherwise.
//
// poolSize bounds the connections (0: go-redis's default). The client
// speaks RESP2: resetq needs nothing from RESP3, and go-redis's RESP3
// push-notification handling costs a read on every reply.
func Open(rawURL string, poolSize int) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	switch u.Scheme {
	case "redis", "rediss":
		opt, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis URL: %w", err)
		}
		if !u.Query().Has("protocol") {
			opt.Protocol = 2
		}
		if poolSize > 0 {
			opt.PoolSize = poolSize
		}
		return redis.NewClient(opt), nil
	case "redis-socket":
		if u.Path == "" {
			return nil, errors.New("redis URL: redis-socket:// needs the socket's path")
		}
		db, err := dbNumber(u.Query().Get("db"))
		if err != nil {
			return nil, err
		}
		pw, _ := u.User.Password()
		return redis.NewClient(&redis.Options{Network: "unix", Addr: u.Path, DB: db, Password: pw,
			Protocol: 2, PoolSize: poolSize}), nil
	case "redis-sentinel":
		master := u.Query().Get("master")
		if master == "" {
			return nil, errors.New("redis URL: redis-sentinel:// needs ?master=NAME")
		}
		db, err := dbNumber(strings.Trim(u.Path, "/"))
		if err != nil {
			return nil, err
		}
		pw, _ := u.User.Password()
		spw := pw
		if u.Query().Has("sentinel_password") {
			spw = u.Query().Get("sentinel_password")
		}
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: master, SentinelAddrs: strings.Split(u.Host, ","),
			Username: u.User.Username(), Password: pw, SentinelPassword: spw,
			DB: db, Protocol: 2, PoolSize: poolSize,
		}), nil
	}
	return nil, fmt.Errorf("redis URL: unsupported scheme %q (redis, rediss, redis-socket, redis-sentinel)", u.Scheme)
}

func dbNumber(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("redis URL: the database %q must be a number", s)
	}
	return n, nil
}

// Cluster names a Redis Cluster.
type Cluster struct {
	// Addrs are some of its nodes; the others are learnt from them.
	Addrs              []string
	Username, Password string
	TLS                bool
}

// OpenCluster connects to a Redis Cluster. Every key resetq and Asynq use
// together carries the same hash tag (a queue's {name}, a campaign's {ID}),
// so scripts and transactions never cross a shard; each queue, and each
// campaign, lives on the shard its tag hashes to. poolSize bounds the
// connections per node.
func OpenCluster(c Cluster, poolSize int) (redis.UniversalClient, error) {
	if len(c.Addrs) == 0 {
		return nil, errors.New("redis cluster: no addresses")
	}
	opt := &redis.ClusterOptions{Addrs: c.Addrs, Username: c.Username, Password: c.Password,
		Protocol: 2, PoolSize: poolSize}
	if c.TLS {
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewClusterClient(opt), nil
}
