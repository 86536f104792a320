package checks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// KeyPrefix starts the key that holds a provider's last check.
const KeyPrefix = "resetq:lastcheck:"

// TTL is how long a check is kept when no other comes after it.
const TTL = 30 * 24 * time.Hour

// Check is one check of a provider and what it found.
type Check struct {
	Provider string    `json:"provider"`
	At       time.Time `json:"at"`
	// By is who ran it: the console's operator name, or
	// "cli:<user>@<host>".
	By       string   `json:"by"`
	OK       bool     `json:"ok"`
	Lines    []string `json:"lines,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Reason, Problem and Fix say what is wrong when it failed.
	Reason  string `json:"reason,omitempty"`
	Problem string `json:"problem,omitempty"`
	Fix     string `json:"fix,omitempty"`
}

// Store keeps the last check of each provider in Redis.
type Store struct {
	rdb redis.UniversalClient
}

// New returns a Store on rdb.
func New(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

func key(provider string) string { return KeyPrefix + provider }

// Save records c as its provider's last check, for TTL.
func (s *Store) Save(ctx context.Context, c Check) error {
	if c.Provider == "" {
		return errors.New("checks: a check names its provider")
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := s.rdb.Set(ctx, key(c.Provider), b, TTL).Err(); err != nil {
		return fmt.Errorf("recording the check of %s: %w", c.Provider, err)
	}
	return nil
}

// Last returns the provider's last check, or nil when none is kept.
func (s *Store) Last(ctx context.Context, provider string) (*Check, error) {
	b, err := s.rdb.Get(ctx, key(provider)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c Check
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("the last check of %s is corrupt: %w", provider, err)
	}
	return &c, nil
}
