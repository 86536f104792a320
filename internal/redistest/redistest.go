package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/internal/freeport"
)

// Server is one running redis-server.
type Server struct {
	Addr string
	dir  string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

// Start runs a redis-server for the test and stops it when the test ends.
// extra are additional redis-server arguments ("--appendonly", "yes").
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	s, err := New(t.TempDir(), extra...)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// New runs a redis-server keeping its files in dir. The caller stops it.
func New(dir string, extra ...string) (*Server, error) {
	return newServer(dir, nil, append([]string{"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no",
		"--maxmemory-policy", "noeviction", "--databases", "16", "--loglevel", "warning"}, extra...)...)
}

// newServer runs redis-server with lead (a configuration file, --sentinel)
// before its port and bind, then extra.
func newServer(dir string, lead []string, extra ...string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server is not installed; tests need a real one (apt-get install redis-server)")
	}
	return freeport.Start(1, 5, func(ports []int, _ int) (*Server, error) {
		port := strconv.Itoa(ports[0])
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", port), dir: dir}
		s.args = append(append(append([]string{bin}, lead...), "--port", port, "--bind", "127.0.0.1"), extra...)
		if err := s.start(); err != nil {
			return nil, err
		}
		return s, nil
	})
}

func (s *Server) start() error {
	cmd := exec.Command(s.args[0], s.args[1:]...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	// Die with the test binary, even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.stderr = cmd, &stderr
	s.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil || strings.HasPrefix(err.Error(), "NOAUTH") { // it answers (behind a password)
			return nil
		}
		select {
		case <-exited:
			err := fmt.Errorf("redis-server exited at start: %s", bytes.TrimSpace(stderr.Bytes()))
			if bytes.Contains(stderr.Bytes(), []byte("already in use")) {
				err = fmt.Errorf("%w: %w", freeport.ErrTaken, err)
			}
			return err
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return fmt.Errorf("redis-server did not answer PING within 10s: %v", err)
		}
	}
}

// Stop kills the server. It is safe to call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	// Wait until the port is free, so Restart can bind it again.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", s.Addr, 50*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
}

// Restart stops the server and starts it again on the same port.
func (s *Server) Restart() error {
	s.Stop()
	return s.start()
}

// Pid is the server process's id, 0 when stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// URL returns a redis:// URL for database db.
func (s *Server) URL(db int) string { return fmt.Sprintf("redis://%s/%d", s.Addr, db) }

// Client returns a client for database 0, closed when the test ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Sentinel is a master, its replica and three sentinels watching them,
// every one a redis-server on loopback.
type Sentinel struct {
	Master, Replica *Server
	Sentinels       []*Server
	// MasterName is what the sentinels call the master.
	MasterName string
}

// StartSentinel runs a master, a replica of it and three sentinels that
// fail over one second after the master stops answering.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	// The master streams its first sync at once instead of waiting 5 s for
	// more replicas to join.
	s := &Sentinel{MasterName: "resetq", Master: Start(t, "--repl-diskless-sync-delay", "0")}
	host, port, _ := net.SplitHostPort(s.Master.Addr)
	s.Replica = Start(t, "--replicaof", host, port)
	rc := redis.NewClient(&redis.Options{Addr: s.Replica.Addr})
	defer rc.Close()
	await(t, time.Now().Add(20*time.Second), func() error {
		info, err := rc.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return nil
		}
		return fmt.Errorf("the replica did not sync: %s %v", info, err)
	})
	for range 3 {
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		if err := os.WriteFile(conf, []byte(fmt.Sprintf("sentinel monitor %s %s %s 2\n"+
			"sentinel down-after-milliseconds %[1]s 1000\n"+
			"sentinel failover-timeout %[1]s 5000\n"+
			"sentinel parallel-syncs %[1]s 1\n", s.MasterName, host, port)), 0o600); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		sn, err := newServer(dir, []string{conf, "--sentinel"}, "--save", "", "--daemonize", "no", "--loglevel", "warning")
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		t.Cleanup(sn.Stop)
		s.Sentinels = append(s.Sentinels, sn)
	}
	// The sentinels must know the replica before a failover can pick it.
	deadline := time.Now().Add(20 * time.Second)
	for _, sn := range s.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr})
		defer c.Close()
		await(t, deadline, func() error {
			replicas, err := c.Replicas(context.Background(), s.MasterName).Result()
			if err == nil && len(replicas) == 1 && replicas[0]["flags"] == "slave" {
				return nil
			}
			return fmt.Errorf("sentinel %s does not see the replica: %v %v", sn.Addr, replicas, err)
		})
	}
	return s
}

// StopMaster stops the master once its replica holds every write it
// acknowledged. Redis replicates asynchronously: a master stopped before
// its replica caught up (or while the replica was still resyncing) loses
// the writes it has not passed on, and a test of a failover means to test
// resetq, not that.
func (s *Sentinel) StopMaster(t testing.TB) {
	t.Helper()
	c := s.Master.Client(t)
	n, err := c.Do(context.Background(), "WAIT", 1, 20000).Int()
	if err != nil || n < 1 {
		t.Fatalf("redistest: the replica did not acknowledge the master's writes within 20 s: %d %v", n, err)
	}
	s.Master.Stop()
}

// URL is the redis-sentinel:// URL of the set.
func (s *Sentinel) URL() string {
	addrs := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		addrs[i] = sn.Addr
	}
	return fmt.Sprintf("redis-sentinel://%s/0?master=%s", strings.Join(addrs, ","), s.MasterName)
}

// Cluster is a Redis Cluster of masters, without replicas.
type Cluster struct {
	Nodes []*Server
}

// StartCluster runs n redis-servers in cluster mode and joins them with
// redis-cli --cluster create, the slots spread evenly.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	cl := &Cluster{}
	args := []string{"--cluster", "create"}
	for range n {
		s := Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
		cl.Nodes = append(cl.Nodes, s)
		args = append(args, s.Addr)
	}
	out, err := exec.Command("redis-cli", append(args, "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range cl.Nodes {
		c := redis.NewClient(&redis.Options{Addr: s.Addr})
		defer c.Close()
		await(t, deadline, func() error {
			info, err := c.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				return nil
			}
			return fmt.Errorf("the cluster is not ok at %s: %s %v", s.Addr, info, err)
		})
	}
	return cl
}

// Addrs lists the nodes' addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		out[i] = s.Addr
	}
	return out
}

// await polls check until it returns nil, and fails t with its last error
// once deadline has passed.
func await(t testing.TB, deadline time.Time, check func() error) {
	t.Helper()
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
