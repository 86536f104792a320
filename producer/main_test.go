package producer_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/worker"
)

// redisSrv is the Redis the examples and tests use: a real redis-server
// started for this package, with a worker serving provider "corp" against
// the Keycloak emulator, as a deployment would have. redisAddr is its
// address, for the examples, which have no *testing.T for redisSrv.Client.
var (
	redisSrv  *redistest.Server
	redisAddr string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "producer-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	srv, err := redistest.New(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Stop()
	redisSrv, redisAddr = srv, srv.Addr

	kc := keycloaktest.NewServer()
	defer kc.Close()
	kc.AddServiceAccount("corp", "resetq", "producer-test-secret")
	kc.AddUser("corp", keycloaktest.User{Username: "alice", Email: "alice@example.com", Enabled: true})
	kp, err := keycloak.New(keycloak.Config{BaseURL: kc.URL(), Realm: "corp", ClientID: "resetq", ClientSecret: "producer-test-secret"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	w, err := worker.New(worker.Config{Redis: rdb, PollInterval: 20 * time.Millisecond,
		Providers: []worker.Provider{{Name: "corp", IdP: kp}}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := w.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer w.Shutdown()
	return m.Run()
}
