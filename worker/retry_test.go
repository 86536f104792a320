package worker

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/tasks"
)

func TestClassifyEveryKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind   idp.Kind
		action Action
		reason string
	}{
		{idp.Transient, Retry, "transient"},
		{idp.RateLimited, Retry, "rate_limited"},
		{idp.UserNotFound, Skip, "user_not_found"},
		{idp.AmbiguousUser, Skip, "ambiguous_user"},
		{idp.UserDisabled, Skip, "user_disabled"},
		{idp.UserNoEmail, Skip, "no_email"},
		{idp.InvalidAction, Fail, "invalid_action"},
		{idp.InvalidRequest, Fail, "invalid_request"},
		{idp.Credentials, Halt, "credentials_rejected"},
		{idp.Permission, Halt, "permission_denied"},
		{idp.Configuration, Halt, "configuration"},
		{idp.Unconfirmed, Done, "unconfirmed"},
		{idp.MailFailed, Retry, "mail_failed"},
		{idp.RecipientRefused, Skip, "recipient_refused"},
	}
	for _, tt := range tests {
		d := Classify(fmt.Errorf("wrapped: %w", &idp.Error{Kind: tt.kind, RetryAfter: 3 * time.Second}))
		require.Equal(t, tt.action, d.Action, tt.kind.String())
		require.Equal(t, tt.reason, d.Reason, tt.kind.String())
		require.Equal(t, tt.kind == idp.RateLimited, d.Wait, "only a rate limit is a wait: %s", tt.kind)
	}
	require.Equal(t, Done, Classify(nil).Action)
	d := Classify(errors.New("something the provider did not understand"))
	require.Equal(t, Retry, d.Action, "an unknown error is retried, not dropped")
	require.Equal(t, 3*time.Second, Classify(&idp.Error{Kind: idp.RateLimited, RetryAfter: 3 * time.Second}).RetryAfter)
}

func TestBackoffGrowsWithJitterAndStopsAtTheCap(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]time.Duration{0: 10 * time.Second, 1: 20 * time.Second, 3: 80 * time.Second, 20: 15 * time.Minute} {
		for range 50 {
			d := backoff(n, 10*time.Second, 15*time.Minute)
			require.GreaterOrEqual(t, d, want*8/10, "n=%d", n)
			require.LessOrEqual(t, d, want*12/10, "n=%d", n)
		}
	}
}

func TestRetryDelayHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	s := &Server{cfg: Config{RetryBase: 10 * time.Second, RetryCap: 15 * time.Minute}}
	task := asynq.NewTask("x", nil)

	d := s.retryDelay(0, &retryError{err: errors.New("x"), retryAfter: 5 * time.Minute}, task)
	require.GreaterOrEqual(t, d, 5*time.Minute, "a longer Retry-After wins over the backoff")
	require.Less(t, d, 6*time.Minute)

	d = s.retryDelay(0, &retryError{err: errors.New("x"), retryAfter: 2 * time.Second, notFailure: true}, task)
	require.GreaterOrEqual(t, d, 3*time.Second, "a rate-limit wait is as long as asked, plus Asynq's second of granularity")
	require.LessOrEqual(t, d, 3200*time.Millisecond)

	d = s.retryDelay(3, errors.New("timeout"), task)
	require.GreaterOrEqual(t, d, 64*time.Second)

	require.Equal(t, time.Second, s.retryDelay(7, &haltError{provider: "corp"}, task), "a halted task waits in its paused queue")
}

func TestIsFailure(t *testing.T) {
	t.Parallel()
	require.False(t, isFailure(&haltError{provider: "corp"}))
	require.False(t, isFailure(&retryError{err: errors.New("429"), notFailure: true}))
	require.True(t, isFailure(&retryError{err: errors.New("500")}))
	require.True(t, isFailure(errors.New("lease expired")))
	require.ErrorIs(t, &finalError{reason: "user_not_found"}, asynq.SkipRetry)
	require.Contains(t, (&haltError{provider: "corp", reason: "configuration"}).Error(), "resetq: provider halted: corp")
}

func TestUserHashIsStableKeyedAndHidesTheUser(t *testing.T) {
	t.Parallel()
	key := []byte("deployment-one")
	a := userHash(key, userRef("Alice@Example.com"))
	require.Equal(t, a, userHash(key, userRef("alice@example.com")))
	require.NotContains(t, a, "alice")
	require.Regexp(t, `^email:[0-9a-f]{12}$`, a)

	// Without the key, hashing a list of known addresses finds nobody.
	unkeyed := sha256.Sum256([]byte("email:alice@example.com"))
	require.NotEqual(t, "email:"+hex.EncodeToString(unkeyed[:6]), a)
	require.NotEqual(t, a, userHash([]byte("deployment-two"), userRef("alice@example.com")))
}

func userRef(email string) tasks.User { return tasks.User{Email: email} }
