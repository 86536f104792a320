package campaigns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/internal/deploysecret"
	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/tasks"
)

// Errors a Manager returns. The producer's public API hands them on as
// its own sentinels, so errors.Is works across both.
var (
	// ErrInvalid wraps every error that is the request's fault.
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound is returned for a name no campaign has.
	ErrNotFound = errors.New("campaign not found")
	// ErrState is returned for a change the campaign's status does not
	// allow (resuming a completed campaign).
	ErrState = errors.New("not possible in the campaign's status")
	// ErrNameTaken is returned when the name is taken by a campaign of
	// another file.
	ErrNameTaken = errors.New("campaign name taken")
)

// Provider is what campaigns need to know of a provider.
type Provider struct {
	Name string
	// EmailOnly is set for providers that find users by email alone: a
	// campaign reads only a file's email column.
	EmailOnly bool
	// MaxRetries and AttemptTimeout go on every task (tasks.TaskSettings).
	MaxRetries     int
	AttemptTimeout time.Duration
	// RateCount resets per RatePeriod is the provider's own rate limit;
	// a campaign sizes its window by it.
	RateCount  int
	RatePeriod time.Duration
}

// Config configures a Manager.
type Config struct {
	// Redis holds the campaigns and the queues. The manager does not
	// close it.
	Redis redis.UniversalClient
	// Providers are the providers this process may start campaigns on and
	// feed: a feeder leaves the campaigns of other providers alone.
	Providers []Provider
}

// Manager starts, steers and reports on campaigns; its Feeder (NewFeeder)
// moves their rows onto the queues. It is safe for concurrent use.
type Manager struct {
	store     *Store
	queue     *asynq.Client
	insp      *asynq.Inspector
	halts     *halt.Registry
	secret    *deploysecret.Source
	providers map[string]Provider
}

// NewManager returns a Manager on cfg.Redis. It does not touch Redis.
func NewManager(cfg Config) *Manager {
	m := &Manager{
		store:     NewStore(cfg.Redis),
		queue:     asynq.NewClientFromRedisClient(cfg.Redis),
		insp:      asynq.NewInspectorFromRedisClient(cfg.Redis),
		halts:     halt.New(cfg.Redis),
		secret:    deploysecret.NewSource(cfg.Redis),
		providers: map[string]Provider{},
	}
	for _, p := range cfg.Providers {
		m.providers[p.Name] = p
	}
	return m
}

// Get returns a campaign by name.
func (m *Manager) Get(ctx context.Context, name string) (*Campaign, error) {
	if err := ValidID(name); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	got, err := m.store.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if got == nil {
		return nil, fmt.Errorf("%w: %s (unknown, or finished longer ago than campaigns are kept)", ErrNotFound, name)
	}
	return got, nil
}

// List returns every campaign, newest first.
func (m *Manager) List(ctx context.Context) ([]*Campaign, error) { return m.store.List(ctx) }

// abandoned reports whether an importing campaign has nobody importing it.
func (m *Manager) abandoned(ctx context.Context, camp *Campaign) bool {
	held, err := m.store.Leased(ctx, camp.ID)
	return err == nil && !held
}

// taskIDs returns what names the task of a user's row in camp.
func (m *Manager) taskIDs(ctx context.Context, camp *Campaign) (func(tasks.User) string, error) {
	if !camp.KeyedTaskIDs {
		return func(u tasks.User) string { return tasks.LegacyCampaignTaskID(camp.Provider, camp.ID, u) }, nil
	}
	secret, err := m.secret.Get(ctx)
	if err != nil {
		return nil, err
	}
	key := deploysecret.Derive(secret, deploysecret.TaskIDs)
	return func(u tasks.User) string { return tasks.CampaignTaskID(key, camp.Provider, camp.ID, u) }, nil
}

// eachQueued calls fn for every row of the campaign that is fed and has no
// outcome, with its task's ID.
func (m *Manager) eachQueued(ctx context.Context, camp *Campaign, fn func(row int, taskID string) error) error {
	taskID, err := m.taskIDs(ctx, camp)
	if err != nil {
		return err
	}
	for from := 0; from < camp.Rows; from += ChunkRows {
		n := min(ChunkRows, camp.Rows-from)
		fed, err := m.store.Fed(ctx, camp, from, n)
		if err != nil {
			return err
		}
		if !slices.Contains(fed, true) {
			continue
		}
		recs, err := m.store.Outcomes(ctx, camp, from, n)
		if err != nil {
			return err
		}
		var rows []Row
		for i := range n {
			if !fed[i] || recs[i].Outcome != "" {
				continue
			}
			if rows == nil {
				if rows, err = m.store.Chunk(ctx, camp, from/ChunkRows); err != nil {
					return err
				}
			}
			if err := fn(from+i, taskID(rows[i].User)); err != nil {
				return err
			}
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// taskSettings are the settings the provider's task of this ID carries.
func (p Provider) taskSettings(id string) tasks.TaskSettings {
	return tasks.TaskSettings{ID: id, MaxRetries: p.MaxRetries, AttemptTimeout: p.AttemptTimeout}
}
