package webhook

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// State is what resetq knows of an endpoint's deliveries.
type State struct {
	Name string
	// Disabled is set when the endpoint answered 410 Gone (or an operator
	// disabled it); deliveries to it are dropped until it is enabled.
	Disabled       bool
	DisabledAt     time.Time
	DisabledReason string
	LastStatus     int // 0: no answer
	LastError      string
	LastAt         time.Time
	Delivered      int64
	Failed         int64
}

// States keeps endpoint state in Redis (never a secret or a URL).
type States struct{ rdb redis.UniversalClient }

// NewStates returns the store on rdb.
func NewStates(rdb redis.UniversalClient) *States { return &States{rdb: rdb} }

func stateKey(name string) string { return "resetq:webhook:endpoint:" + name }

// Get reads an endpoint's state.
func (s *States) Get(ctx context.Context, name string) (State, error) {
	m, err := s.rdb.HGetAll(ctx, stateKey(name)).Result()
	if err != nil {
		return State{Name: name}, err
	}
	st := State{Name: name, DisabledReason: m["disabled_reason"], LastError: m["last_error"]}
	st.DisabledAt = unixTime(m["disabled_at"])
	st.Disabled = !st.DisabledAt.IsZero()
	st.LastAt = unixTime(m["last_at"])
	st.LastStatus, _ = strconv.Atoi(m["last_status"])
	st.Delivered, _ = strconv.ParseInt(m["delivered"], 10, 64)
	st.Failed, _ = strconv.ParseInt(m["failed"], 10, 64)
	return st, nil
}

func unixTime(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Disabled reports whether an endpoint is disabled.
func (s *States) Disabled(ctx context.Context, name string) (bool, error) {
	n, err := s.rdb.HExists(ctx, stateKey(name), "disabled_at").Result()
	return n, err
}

// Disable stops deliveries to an endpoint.
func (s *States) Disable(ctx context.Context, name, reason string) error {
	return s.rdb.HSet(ctx, stateKey(name), "disabled_at", time.Now().UnixMilli(), "disabled_reason", reason).Err()
}

// Enable lets deliveries to an endpoint resume. It reports whether the
// endpoint was disabled.
func (s *States) Enable(ctx context.Context, name string) (bool, error) {
	n, err := s.rdb.HDel(ctx, stateKey(name), "disabled_at", "disabled_reason").Result()
	return n > 0, err
}

// record notes an attempt's answer.
func (s *States) record(ctx context.Context, name string, status int, errText string, delivered bool) error {
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, stateKey(name), "last_status", status, "last_error", errText, "last_at", time.Now().UnixMilli())
	field := "failed"
	if delivered {
		field = "delivered"
	}
	pipe.HIncrBy(ctx, stateKey(name), field, 1)
	_, err := pipe.Exec(ctx)
	return err
}
