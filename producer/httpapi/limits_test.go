package httpapi_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/audit"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/internal/testclock"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/producer/httpapi"
	"github.com/resetq/resetq/tasks"
)

// limited serves the API with no worker: what a request enqueued stays in
// the queue to be counted.
func limited(t *testing.T, now func() time.Time, tokens ...httpapi.Token) (url string, pending func() int, trail *audit.Trail) {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	client, err := producer.NewClient(producer.Config{Redis: rdb, Providers: []producer.Provider{{Name: "corp", Type: "keycloak"}}})
	require.NoError(t, err)
	trail, err = audit.New(audit.Config{Redis: rdb})
	require.NoError(t, err)
	// Every exchange is held to the OpenAPI document too.
	e := serve(t, httpapi.Config{Client: client, Tokens: tokens, Redis: rdb, Audit: trail, Now: now})
	insp := asynq.NewInspectorFromRedisClient(rdb)
	return e.url, func() int {
		info, err := insp.GetQueueInfo(tasks.QueueName("corp"))
		if err != nil {
			return 0 // nothing was ever queued
		}
		return info.Pending
	}, trail
}

func ask(t *testing.T, url, token, email, key string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/resets",
		strings.NewReader(`{"provider":"corp","user":{"email":"`+email+`"}}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	return res
}

// A token over its rate gets 429 with Retry-After and enqueues nothing,
// while another token is served.
func TestATokenOverItsRateIsRefusedAndAnotherIsServed(t *testing.T) {
	t.Parallel()
	const slow, other = "helpdesk-token-0123456789", "billing-token-0123456789"
	url, pending, trail := limited(t, nil,
		httpapi.Token{Name: "helpdesk", Secret: slow, Scopes: []string{"resets"}, RateN: 2, RatePer: time.Hour},
		httpapi.Token{Name: "billing", Secret: other, Scopes: []string{"resets"}})
	// A burst of one second's worth, at least one: 2/h admits one now.
	require.Equal(t, http.StatusAccepted, ask(t, url, slow, "a@example.com", "").StatusCode)
	for i := range 3 {
		res := ask(t, url, slow, "b"+strconv.Itoa(i)+"@example.com", "")
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		after, err := strconv.Atoi(res.Header.Get("Retry-After"))
		require.NoError(t, err)
		require.True(t, after > 0 && after <= 1800, "Retry-After %d s: the next slot of 2/h", after)
		require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
	}
	require.Equal(t, 1, pending(), "the refused requests enqueued nothing")
	for i := range 5 {
		require.Equal(t, http.StatusAccepted, ask(t, url, other, "c"+strconv.Itoa(i)+"@example.com", "").StatusCode,
			"another token is served")
	}
	require.Equal(t, 6, pending())

	// The refusals are kept once a minute, so a client that keeps knocking
	// cannot push older records out of the trail.
	var refused []audit.Record
	require.NoError(t, trail.Query(context.Background(), audit.Filter{Action: "reset.request"}, func(r audit.Record) error {
		if r.Result == "refused" {
			refused = append(refused, r)
		}
		return nil
	}))
	require.Len(t, refused, 1)
	require.Equal(t, "api:helpdesk", refused[0].Actor)
	require.Contains(t, refused[0].Reason, "rate-limited: token \"helpdesk\" may ask for 2 reset(s) per 1h0m0s")
}

// A token's daily quota counts what it enqueued: a repeated request (the
// same idempotency key) is not counted again; past the quota the API
// answers 429 until midnight UTC and enqueues nothing (a repeat too: the
// quota is looked at first); the next day it serves the token again.
func TestADailyQuotaCountsWhatWasEnqueued(t *testing.T) {
	t.Parallel()
	const tok = "helpdesk-token-0123456789"
	// A day of the quota is read on the API's clock: here 21:30 UTC, two
	// and a half hours before the next day's quota.
	clock := testclock.New(time.Date(2026, 11, 22, 21, 30, 0, 0, time.UTC))
	url, pending, _ := limited(t, clock.Now, httpapi.Token{Name: "helpdesk", Secret: tok, Scopes: []string{"resets"}, DailyLimit: 3})
	for i := range 2 {
		require.Equal(t, http.StatusAccepted, ask(t, url, tok, "u"+strconv.Itoa(i)+"@example.com", "k"+strconv.Itoa(i)).StatusCode)
	}
	for range 3 {
		require.Equal(t, http.StatusAccepted, ask(t, url, tok, "u0@example.com", "k0").StatusCode,
			"a repeat of an enqueued request is answered, and not counted")
	}
	require.Equal(t, http.StatusAccepted, ask(t, url, tok, "u2@example.com", "k2").StatusCode, "the third reset of the day")
	res := ask(t, url, tok, "u9@example.com", "")
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	require.Equal(t, "9000", res.Header.Get("Retry-After"), "until midnight UTC")
	require.Equal(t, 3, pending())

	clock.Add(9000 * time.Second) // midnight: a new day's quota
	require.Equal(t, http.StatusAccepted, ask(t, url, tok, "u9@example.com", "").StatusCode)
	require.Equal(t, 4, pending())
}

// Limits need Redis to count them in every API process alike.
func TestLimitsNeedRedis(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	client, err := producer.NewClient(producer.Config{Redis: rdb, Providers: []producer.Provider{{Name: "corp", Type: "keycloak"}}})
	require.NoError(t, err)
	_, err = httpapi.New(httpapi.Config{Client: client, Tokens: []httpapi.Token{
		{Name: "helpdesk", Secret: "helpdesk-token-0123456789", Scopes: []string{"resets"}, DailyLimit: 1}}})
	require.ErrorContains(t, err, `token "helpdesk" has limits: Config.Redis is required`)
}
