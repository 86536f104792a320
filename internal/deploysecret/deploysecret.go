package deploysecret

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Key is the Redis key that holds the deployment's secret.
const Key = "resetq:deployment-secret"

// size is the secret's length in bytes before encoding.
const size = 32

// Load returns the deployment's secret, generating and storing it when the
// Redis holds none yet. Concurrent first calls from many processes agree:
// only the first SET NX writes.
func Load(ctx context.Context, rdb redis.UniversalClient) ([]byte, error) {
	b := make([]byte, size)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return loadOrSeed(ctx, rdb, b)
}

// loadOrSeed returns the secret in Redis, storing candidate first when
// there is none.
func loadOrSeed(ctx context.Context, rdb redis.UniversalClient, candidate []byte) ([]byte, error) {
	if err := rdb.SetNX(ctx, Key, base64.RawStdEncoding.EncodeToString(candidate), 0).Err(); err != nil {
		return nil, fmt.Errorf("storing the deployment secret: %w", err)
	}
	got, err := rdb.Get(ctx, Key).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the deployment secret: %w", err)
	}
	secret, err := base64.RawStdEncoding.DecodeString(got)
	if err != nil || len(secret) < size {
		return nil, fmt.Errorf("the deployment secret in Redis key %s is corrupt (want %d base64 bytes)", Key, size)
	}
	return secret, nil
}

// The purposes resetq derives subkeys for. A new use takes a new purpose.
const (
	// TaskIDs keys the task IDs derived from idempotency keys and
	// campaign rows (tasks.TaskID, tasks.CampaignTaskID).
	TaskIDs = "task-id"
	// RequestFingerprints keys the fingerprints of keyed requests
	// (tasks.Payload.Fingerprint).
	RequestFingerprints = "request-fingerprint"
	// LogUsers keys the hash that names a user in log lines when
	// log.include_user is off.
	LogUsers = "log-user"
)

// Derive returns the subkey of secret for one purpose.
func Derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("resetq/deploysecret/" + purpose))
	return m.Sum(nil)
}

// Source loads the secret on first use and keeps it. A failed load is
// tried again on the next call. Now and then (Recheck) it reads the secret
// again, offering the one it holds: a Redis that lost the key (restarted
// without persistence) gets the secret the running processes use back,
// instead of a new one from the next process to start. It is safe for
// concurrent use.
type Source struct {
	rdb     redis.UniversalClient
	recheck time.Duration

	mu      sync.Mutex
	secret  []byte
	checked time.Time
}

// Recheck is how often a Source reads the secret again.
const Recheck = time.Minute

// NewSource returns a Source on rdb. It does not touch Redis.
func NewSource(rdb redis.UniversalClient) *Source { return &Source{rdb: rdb, recheck: Recheck} }

// Get returns the deployment's secret.
func (s *Source) Get(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secret != nil && time.Since(s.checked) < s.recheck {
		return s.secret, nil
	}
	if s.rdb == nil {
		return nil, errors.New("deploysecret: no Redis")
	}
	candidate := s.secret
	if candidate == nil {
		candidate = make([]byte, size)
		_, _ = rand.Read(candidate)
	}
	secret, err := loadOrSeed(ctx, s.rdb, candidate)
	if err != nil {
		if s.secret != nil {
			return s.secret, nil // Redis is down: what needs it will say so
		}
		return nil, err
	}
	s.secret, s.checked = secret, time.Now()
	return secret, nil
}
