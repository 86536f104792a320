package halt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/resetq/resetq/tasks"
)

// KeyPrefix starts the key that holds a provider's halt state.
const KeyPrefix = "resetq:halted:"

// ErrorMarker starts the error a task returns when its provider is halted.
// Resume looks for it among archived tasks: a task whose retries had run
// out when the halt came was archived by Asynq, and is put back.
const ErrorMarker = "resetq: provider halted"

// State is why a provider is halted.
type State struct {
	Provider string    `json:"provider"`
	Reason   string    `json:"reason"`
	Hint     string    `json:"hint"`
	Message  string    `json:"message"`
	Since    time.Time `json:"since"`
}

// Registry halts and resumes providers.
type Registry struct {
	rdb  redis.UniversalClient
	insp *asynq.Inspector
}

// New returns a Registry on rdb.
func New(rdb redis.UniversalClient) *Registry {
	return &Registry{rdb: rdb, insp: asynq.NewInspectorFromRedisClient(rdb)}
}

func key(provider string) string { return KeyPrefix + provider }

// Halt pauses the provider's queue and records why. first is true for the
// one caller that halted it; the others (tasks in flight that hit the same
// error) learn that it is already halted.
func (r *Registry) Halt(ctx context.Context, st State) (first bool, err error) {
	b, err := json.Marshal(st)
	if err != nil {
		return false, err
	}
	first, err = r.rdb.SetNX(ctx, key(st.Provider), b, 0).Result()
	if err != nil {
		return false, fmt.Errorf("recording the halt of %s: %w", st.Provider, err)
	}
	for _, q := range tasks.Queues(st.Provider) {
		if err := r.insp.PauseQueue(q); err != nil && !strings.Contains(err.Error(), "already paused") {
			return first, fmt.Errorf("pausing queue %s: %w", q, err)
		}
	}
	return first, nil
}

// Get returns the halt state of a provider, or nil when it is not halted.
func (r *Registry) Get(ctx context.Context, provider string) (*State, error) {
	b, err := r.rdb.Get(ctx, key(provider)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("the halt record of %s is corrupt: %w", provider, err)
	}
	return &st, nil
}

// Halted returns which of the providers are halted, in one round trip.
func (r *Registry) Halted(ctx context.Context, providers []string) (map[string]bool, error) {
	out := make(map[string]bool, len(providers))
	if len(providers) == 0 {
		return out, nil
	}
	// One EXISTS per key keeps this working on Redis Cluster, where the
	// keys can live on different shards.
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(providers))
	for i, p := range providers {
		cmds[i] = pipe.Exists(ctx, key(p))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	for i, p := range providers {
		out[p] = cmds[i].Val() == 1
	}
	return out, nil
}

// Resumed is what Resume did.
type Resumed struct {
	// Was is the halt that was lifted, nil if the provider was not halted.
	Was *State
	// Requeued counts archived tasks put back because they were archived
	// by a halt.
	Requeued int
}

// Resume lifts a provider's halt: the record goes, the queue is unpaused,
// and tasks Asynq archived because of the halt go back to pending.
func (r *Registry) Resume(ctx context.Context, provider string) (Resumed, error) {
	var res Resumed
	st, err := r.Get(ctx, provider)
	if err != nil {
		return res, err
	}
	res.Was = st
	if err := r.rdb.Del(ctx, key(provider)).Err(); err != nil {
		return res, err
	}
	for _, q := range tasks.Queues(provider) {
		n, err := r.resumeQueue(q)
		res.Requeued += n
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// resumeQueue unpauses one queue and puts back the tasks a halt archived.
func (r *Registry) resumeQueue(q string) (requeued int, err error) {
	if err := r.insp.UnpauseQueue(q); err != nil && !strings.Contains(err.Error(), "not paused") {
		return 0, fmt.Errorf("unpausing %s: %w", q, err)
	}
	// Collect first: running a task takes it out of the archive and would
	// shift the pages under the loop.
	var ids []string
	for page := 1; ; page++ {
		archived, err := r.insp.ListArchivedTasks(q, asynq.Page(page), asynq.PageSize(500))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			break
		}
		if err != nil {
			return 0, err
		}
		for _, t := range archived {
			if strings.Contains(t.LastErr, ErrorMarker) {
				ids = append(ids, t.ID)
			}
		}
		if len(archived) < 500 {
			break
		}
	}
	for _, id := range ids {
		if err := r.insp.RunTask(q, id); err == nil {
			requeued++
		}
	}
	return requeued, nil
}
