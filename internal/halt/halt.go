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

// ErrSuperseded is what Halt returns for a halt from a generation a resume
// has ended: the attempt that asked for it started before the operator
// resumed, so its error says nothing about the provider now.
var ErrSuperseded = errors.New("the halt comes from before the last resume")

// State is why a provider is halted.
type State struct {
	Provider string    `json:"provider"`
	Reason   string    `json:"reason"`
	Hint     string    `json:"hint"`
	Message  string    `json:"message"`
	Since    time.Time `json:"since"`
	// Generation is the provider's generation the halt was asked for in
	// (see Registry.Generation).
	Generation int64 `json:"generation"`
}

// Registry halts and resumes providers.
type Registry struct {
	rdb  redis.UniversalClient
	insp *asynq.Inspector
	// recorded, when set, runs between a halt's record and its pause: a
	// test signal.
	recorded func()
}

// New returns a Registry on rdb.
func New(rdb redis.UniversalClient) *Registry {
	return &Registry{rdb: rdb, insp: asynq.NewInspectorFromRedisClient(rdb)}
}

func key(provider string) string { return KeyPrefix + provider }

// generationKey holds how many times a provider was resumed. Its hash tag
// is the whole halt key, so both live in one Redis Cluster slot and one
// script can read them together.
func generationKey(provider string) string { return "{" + key(provider) + "}:generation" }

// Generation is how many times the provider was resumed. An attempt reads
// it when it starts and asks for a halt under it: a resume in between ends
// that generation, and the halt it asks for is refused (ErrSuperseded).
func (r *Registry) Generation(ctx context.Context, provider string) (int64, error) {
	n, err := r.rdb.Get(ctx, generationKey(provider)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

// haltScript records a halt unless its generation is over: 1 when this
// call halted the provider, 0 when it was halted already, -1 superseded.
var haltScript = redis.NewScript(`
local gen = tonumber(redis.call("GET", KEYS[2]) or "0")
if gen ~= tonumber(ARGV[2]) then return -1 end
if redis.call("SET", KEYS[1], ARGV[1], "NX") then return 1 end
return 0`)

// Halt pauses the provider's queue and records why. first is true for the
// one caller that halted it; the others (tasks in flight that hit the same
// error) learn that it is already halted. A halt asked for under a
// generation that a resume ended is not recorded: ErrSuperseded.
func (r *Registry) Halt(ctx context.Context, st State) (first bool, err error) {
	b, err := json.Marshal(st)
	if err != nil {
		return false, err
	}
	n, err := haltScript.Run(ctx, r.rdb, []string{key(st.Provider), generationKey(st.Provider)}, b, st.Generation).Int()
	if err != nil {
		return false, fmt.Errorf("recording the halt of %s: %w", st.Provider, err)
	}
	if n < 0 {
		return false, ErrSuperseded
	}
	first = n == 1
	if r.recorded != nil {
		r.recorded()
	}
	for _, q := range tasks.Queues(st.Provider) {
		if err := r.insp.PauseQueue(q); err != nil && !strings.Contains(err.Error(), "already paused") {
			return first, fmt.Errorf("pausing queue %s: %w", q, err)
		}
	}
	// A resume between the record and the pause unpaused the queues before
	// they were paused: the pause is undone, unless a halt of the resume's
	// generation is recorded by now.
	gen, err := r.Generation(ctx, st.Provider)
	if err != nil || gen == st.Generation {
		return first, err
	}
	if now, err := r.Get(ctx, st.Provider); err != nil || now != nil {
		return first, err
	}
	for _, q := range tasks.Queues(st.Provider) {
		if err := r.unpause(q); err != nil {
			return first, err
		}
	}
	return first, nil
}

func (r *Registry) unpause(q string) error {
	if err := r.insp.UnpauseQueue(q); err != nil && !strings.Contains(err.Error(), "not paused") {
		return fmt.Errorf("unpausing %s: %w", q, err)
	}
	return nil
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
	return decode(provider, b)
}

func decode(provider string, b []byte) (*State, error) {
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("the halt record of %s is corrupt: %w", provider, err)
	}
	return &st, nil
}

// Status is where a provider's halt stands.
type Status struct {
	Halted     bool
	Generation int64
}

// Statuses returns each provider's Status, in one round trip.
func (r *Registry) Statuses(ctx context.Context, providers []string) (map[string]Status, error) {
	out := make(map[string]Status, len(providers))
	if len(providers) == 0 {
		return out, nil
	}
	// One command per key keeps this working on Redis Cluster, where the
	// providers' keys can live on different shards.
	pipe := r.rdb.Pipeline()
	halted := make([]*redis.IntCmd, len(providers))
	gens := make([]*redis.StringCmd, len(providers))
	for i, p := range providers {
		halted[i] = pipe.Exists(ctx, key(p))
		gens[i] = pipe.Get(ctx, generationKey(p))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	for i, p := range providers {
		gen, err := gens[i].Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("the halt generation of %s: %w", p, err)
		}
		out[p] = Status{Halted: halted[i].Val() == 1, Generation: gen}
	}
	return out, nil
}

// Resumed is what Resume did.
type Resumed struct {
	// Was is the halt that was lifted, nil if the provider was not halted
	// or another caller lifted it first.
	Was *State
	// Requeued counts archived tasks put back because they were archived
	// by a halt.
	Requeued int
}

// resumeScript lifts a halt and starts the next generation, in one step:
// of resumes that race, one gets the record back, and a halt asked for
// before it cannot land after it.
var resumeScript = redis.NewScript(`
local st = redis.call("GET", KEYS[1])
if not st then return false end
redis.call("DEL", KEYS[1])
redis.call("INCR", KEYS[2])
return st`)

// Resume lifts a provider's halt: the record goes, the generation moves
// on, the queue is unpaused, and tasks Asynq archived because of the halt
// go back to pending. Only one of several callers gets Was; each of them
// unpauses, so a resume that stopped half-way can be run again. It emits
// nothing: an operator's resume goes through Service.Resume.
func (r *Registry) Resume(ctx context.Context, provider string) (Resumed, error) {
	var res Resumed
	b, err := resumeScript.Run(ctx, r.rdb, []string{key(provider), generationKey(provider)}).Text()
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return res, fmt.Errorf("lifting the halt of %s: %w", provider, err)
	default:
		if res.Was, err = decode(provider, []byte(b)); err != nil {
			return res, err
		}
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
	if err := r.unpause(q); err != nil {
		return 0, err
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
