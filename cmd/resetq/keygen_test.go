package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keygen/keygentest"
	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

const kgAdminPassword = "kg-admin-password-77"

// kgBundle is a world with one Keygen provider, "licensing".
type kgBundle struct {
	*configured
	t      *testing.T
	kg     *keygentest.Server
	acct   *keygentest.Account
	token  string
	sample keygentest.Sample
	w      *inProcess
	logs   *syncBuffer
}

// setupKeygen starts a worker whose provider is configured by settings,
// given as YAML lines ({{token}} becomes the admin token, {{url}} the
// emulator's).
func setupKeygen(t *testing.T, users int, provider string, before func(*kgBundle)) *kgBundle {
	t.Helper()
	b := &kgBundle{t: t, kg: keygentest.NewServer(), logs: &syncBuffer{}}
	t.Cleanup(b.kg.Close)
	b.acct = b.kg.AddAccount(keygentest.Account{Slug: "acme"})
	b.token = b.kg.AddAdmin(b.acct, "admin@acme.example", kgAdminPassword)
	b.sample = b.kg.AddSampleUsers(b.acct, users)
	if before != nil {
		before(b)
	}
	yaml := fmt.Sprintf(`redis: {url: %q}
worker: {concurrency: 10, poll_interval: 20ms}
http: {listen: "127.0.0.1:0"}
log: {level: debug}
providers:
  - name: licensing
    type: keygen
    base_url: %s
    account: acme
%s`, redistest.Start(t).URL(0), b.kg.URL(), provider)
	b.configured = configure(t, strings.NewReplacer("{{token}}", b.token, "{{url}}", b.kg.URL()).Replace(yaml))
	b.start()
	return b
}

// stop stops the running worker, if one runs.
func (b *kgBundle) stop() {
	if b.w != nil {
		b.w.stop()
		b.w = nil
	}
}

// start starts a worker and waits until it is ready: its providers checked,
// or halted with a reason.
func (b *kgBundle) start() {
	b.t.Helper()
	b.w = b.configured.start(b.t, b.logs)
	b.w.waitReady(b.t)
}

func (b *kgBundle) enqueue(email, key string) string {
	b.t.Helper()
	return b.enqueueTo("licensing", email, key)
}

func (b *kgBundle) enqueueTo(provider, email, key string) string {
	b.t.Helper()
	res, err := b.client.Enqueue(context.Background(), producer.Request{Provider: provider, User: tasks.User{Email: email}, IdempotencyKey: key})
	require.NoError(b.t, err)
	return res.TaskID
}

// check runs `resetq provider check` and returns its exit code and output.
func (b *kgBundle) check(provider string) (int, string) {
	b.t.Helper()
	code, out, errOut := b.cli(b.t, "provider", "check", provider)
	return code, out + errOut
}

// minted returns the live tokens of the account other than the admin's own.
func (b *kgBundle) minted() []keygentest.Token {
	var out []keygentest.Token
	for _, tok := range b.kg.LiveTokens(b.acct) {
		if tok.Value != b.token {
			out = append(out, tok)
		}
	}
	return out
}

func (b *kgBundle) waitAll(ids []string, within time.Duration) map[string]int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	out := map[string]int{}
	for _, id := range ids {
		r, err := b.client.Wait(ctx, id)
		require.NoError(b.t, err)
		out[string(r.Outcome)+"/"+r.Reason]++
	}
	return out
}

func (b *kgBundle) assertNoSecretsInLogs() {
	b.t.Helper()
	logs := b.logs.String()
	require.NotContains(b.t, logs, kgAdminPassword)
	for _, tok := range b.kg.Tokens(b.acct) {
		require.NotContains(b.t, logs, tok)
	}
	for _, r := range b.kg.Resets() {
		require.NotContains(b.t, logs, r.Email)
		if r.Token != "" {
			require.NotContains(b.t, logs, r.Token)
		}
	}
}

// TestUsersAskedForTwiceWithKeygensThrottlesOnAreResetOnce: an
// application asks twice for every user; Keygen's throttles are on, and so
// is a per-second request limit, which the resets outrun. Every user is
// reset exactly once and nothing fails.
func TestUsersAskedForTwiceWithKeygensThrottlesOnAreResetOnce(t *testing.T) {
	t.Parallel()
	const n = 150 // two and a half seconds of the limit
	b := setupKeygen(t, n*12/10, "    token: \"{{token}}\"\n", func(b *kgBundle) { b.kg.SetRequestLimits(60, 0) })
	require.GreaterOrEqual(t, len(b.sample.Emails), n)
	users := b.sample.Emails[:n]
	var ids []string
	for round := range 2 {
		for i, e := range users {
			ids = append(ids, b.enqueue(e, fmt.Sprintf("%d-%d", round, i)))
		}
	}
	got := b.waitAll(ids, 90*time.Second)
	require.Equal(t, n, got["succeeded/"], "%v", got)
	require.Equal(t, n, got["skipped/recently_reset"], "%v", got)
	require.Zero(t, got["failed/"+tasks.ReasonRetriesExhausted])
	for _, e := range users {
		require.Equal(t, 1, b.kg.ResetCount(e), "%s reset exactly once", e)
	}
	throttled := 0
	for _, r := range b.kg.RequestsTo(keygentest.EndpointPasswords) {
		if r.Status == http.StatusTooManyRequests {
			throttled++
		}
	}
	// Whether the resets outrun 60/s depends on the machine's speed, so it
	// is reported, not asserted (429s and their retry are asserted in the
	// provider's conformance suite).
	t.Logf("%d requests were throttled by the 60/s limit and retried", throttled)
	require.Zero(t, gathered(t, b.w.registry, "resetq_resets_total", map[string]string{"outcome": "failed"}))
	b.assertNoSecretsInLogs()
}

func TestDeliverFalseFiresTheWebhookWithTheResetToken(t *testing.T) {
	t.Parallel()
	type delivery struct {
		req  *http.Request
		body []byte
	}
	var mu sync.Mutex
	var got []delivery
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, delivery{r.Clone(context.Background()), body})
		mu.Unlock()
	}))
	defer recv.Close()
	b := setupKeygen(t, 10, "    token: \"{{token}}\"\n    deliver: false\n", func(b *kgBundle) {
		b.kg.SetWebhook(b.acct, recv.URL+"/keygen")
	})
	var ids []string
	for i, e := range b.sample.Emails[:3] {
		ids = append(ids, b.enqueue(e, fmt.Sprint(i)))
	}
	require.Equal(t, 3, b.waitAll(ids, 20*time.Second)["succeeded/"])
	eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 }, "3 webhooks")
	require.Zero(t, b.kg.Emails(), "deliver false: Keygen sends no email")
	tokens := map[string]string{}
	for _, r := range b.kg.Resets() {
		require.False(t, r.Deliver)
		tokens[r.Email] = r.Token
	}
	mu.Lock()
	defer mu.Unlock()
	for _, d := range got {
		require.NoError(t, keygentest.VerifyWebhook(b.kg.PublicKey(), d.req, d.body), "signed by Keygen's key")
		var ev struct {
			Data struct {
				Attributes struct {
					Event   string `json:"event"`
					Payload string `json:"payload"`
				} `json:"attributes"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(d.body, &ev))
		require.Equal(t, "user.password-reset", ev.Data.Attributes.Event)
		var payload struct {
			Data struct {
				Attributes struct {
					Email string `json:"email"`
				} `json:"attributes"`
			} `json:"data"`
			Meta struct {
				Token string `json:"passwordResetToken"`
			} `json:"meta"`
		}
		require.NoError(t, json.Unmarshal([]byte(ev.Data.Attributes.Payload), &payload), "a JSON string inside the JSON")
		require.Equal(t, tokens[payload.Data.Attributes.Email], payload.Meta.Token, "the reset token for the receiver's own email")
	}
	b.assertNoSecretsInLogs()
}

// TestKeygenMintedTokenExpiringMidRunIsNoticedByLookups: Keygen never
// looks at the bearer of a reset, so an expired token is noticed where
// one is read: by verify_user's lookups, which mint a new one, once.
func TestKeygenMintedTokenExpiringMidRunIsNoticedByLookups(t *testing.T) {
	t.Parallel()
	b := setupKeygen(t, 120, fmt.Sprintf("    verify_user: true\n    auth: {email: admin@acme.example, password: %q}\n", kgAdminPassword), nil)
	require.Equal(t, 1, b.kg.TokenMints(), "minted once, by the start-up check")
	var ids []string
	for i, e := range b.sample.Emails[:50] {
		ids = append(ids, b.enqueue(e, fmt.Sprint(i)))
	}
	require.Equal(t, 50, b.waitAll(ids, 30*time.Second)["succeeded/"])
	b.kg.ExpireAllTokens()
	ids = nil
	for i, e := range b.sample.Emails[50:100] {
		ids = append(ids, b.enqueue(e, fmt.Sprint(50+i)))
	}
	got := b.waitAll(ids, 30*time.Second)
	require.Equal(t, 50, got["succeeded/"], "%v", got)
	require.Equal(t, 2, b.kg.TokenMints(), "minted again once, however many lookups saw the 401")
	b.assertNoSecretsInLogs()
}

// TestKeygenRevokedTokenIsNoticedByCheckNotByResets: as in production, a
// revoked token goes unnoticed by resets (Keygen ignores the bearer of
// /passwords); `provider check` says what to fix.
func TestKeygenRevokedTokenIsNoticedByCheckNotByResets(t *testing.T) {
	t.Parallel()
	b := setupKeygen(t, 10, "    token: \"{{token}}\"\n", nil)
	b.kg.RevokeToken(b.acct, b.token)
	id := b.enqueue(b.sample.Emails[0], "after-revoke")
	require.Equal(t, map[string]int{"succeeded/": 1}, b.waitAll([]string{id}, 20*time.Second))
	code, out := b.check("licensing")
	require.Equal(t, exitFailure, code, out)
	require.Contains(t, out, "create a new admin or product token")
	require.NotContains(t, out, b.token)
}

// TestKeygenWorkerRestartsLeaveNoMintedTokenBehind: each start mints a
// token with an expiry, each stop revokes it. Ten restarts leave none but
// the running worker's.
func TestKeygenWorkerRestartsLeaveNoMintedTokenBehind(t *testing.T) {
	t.Parallel()
	// Keygen allows 5 mints a minute; eleven in a few seconds are this
	// test's doing, not a worker's.
	b := setupKeygen(t, 3, fmt.Sprintf("    auth: {email: admin@acme.example, password: %q}\n    token_expiry: 30m\n", kgAdminPassword),
		func(b *kgBundle) { b.kg.DisableThrottles() })
	for i := range 10 {
		live := b.minted()
		require.Len(t, live, 1, "restart %d: the running worker's token only", i)
		require.False(t, live[0].Expiry.IsZero(), "an explicit expiry")
		require.WithinDuration(t, time.Now().Add(30*time.Minute), live[0].Expiry, time.Minute)
		b.stop()
		require.Empty(t, b.minted(), "restart %d: revoked on shutdown", i)
		b.start()
	}
	require.Equal(t, 11, b.kg.TokenMints())
	require.Len(t, b.minted(), 1)
	code, out := b.check("licensing")
	require.Equal(t, exitOK, code, out)
	require.Len(t, b.minted(), 1, "the check revokes the token it minted")
	b.assertNoSecretsInLogs()
}

// TestKeygenDeliverFalseWithoutASubscribedEndpointHalts: Keygen would send
// the resets to nobody and answer 204, so the worker halts before any goes
// out, and `provider check` says what to do; once an endpoint subscribes,
// resume finishes the work.
func TestKeygenDeliverFalseWithoutASubscribedEndpointHalts(t *testing.T) {
	t.Parallel()
	recv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer recv.Close()
	b := setupKeygen(t, 10, "    token: \"{{token}}\"\n    deliver: false\n", func(b *kgBundle) {
		b.kg.AddWebhookEndpoint(b.acct, keygentest.WebhookEndpoint{URL: recv.URL + "/licenses", Subscriptions: []string{"license.created"}})
	})
	_, checks := b.w.Readiness(context.Background())
	require.Contains(t, checks["licensing"], "halted", "%v", checks)
	id := b.enqueue(b.sample.Emails[0], "held")
	code, out := b.check("licensing")
	require.Equal(t, exitFailure, code, out)
	require.Contains(t, out, "none of the account's 1 webhook endpoints subscribes to user.password-reset")
	require.Contains(t, out, "add a webhook endpoint subscribed to user.password-reset (or *)")
	require.Empty(t, b.kg.RequestsTo(keygentest.EndpointPasswords), "no reset went out")

	b.kg.AddWebhookEndpoint(b.acct, keygentest.WebhookEndpoint{URL: recv.URL + "/resets", Subscriptions: []string{"*"}})
	code, out = b.check("licensing")
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, "never retries a delivery whose connection is refused")
	code, _, errOut := b.cli(t, "provider", "resume", "licensing")
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, map[string]int{"succeeded/": 1}, b.waitAll([]string{id}, 20*time.Second))
	b.kg.WaitForWebhooks()
	require.Len(t, b.kg.Deliveries(), 1, "to the endpoint that subscribes")
}

// TestKeygenProductTokenCannotVerifyStaff: a product token sees only users
// with role user, so verify_user would report an admin user_not_found; the
// configuration refuses it, naming the field.
func TestKeygenProductTokenCannotVerifyStaff(t *testing.T) {
	t.Parallel()
	kg := keygentest.NewServer()
	t.Cleanup(kg.Close)
	acct := kg.AddAccount(keygentest.Account{Slug: "acme"})
	product := kg.AddProduct(acct, "Widget")
	path := tempFile(t, "resetq.yaml", fmt.Sprintf(`providers:
  - {name: licensing, type: keygen, base_url: %s, account: acme, token: %q, verify_user: true}
`, kg.URL(), product))
	_, err := config.Load(path)
	require.ErrorContains(t, err, "providers[0].verify_user: needs a token that sees every user, and token is a product token")
	require.NotContains(t, err.Error(), product)
}

// TestKeygenEnvironmentIsSentOnLookups: on Enterprise Edition a lookup
// without Keygen-Environment sees only global users; with environment set,
// a user of that environment is found and reset.
func TestKeygenEnvironmentIsSentOnLookups(t *testing.T) {
	t.Parallel()
	b := setupKeygen(t, 3, "    token: \"{{token}}\"\n    verify_user: true\n    environment: production\n", func(b *kgBundle) {
		b.kg.SetEdition(keygentest.EditionEE)
		b.kg.Update(func() { b.acct.Environments = []string{"production"} })
		b.kg.AddUser(b.acct, keygentest.User{Email: "prod-user@example.com", Password: "pw-123456", Environment: "production"})
	})
	id := b.enqueue("prod-user@example.com", "env")
	require.Equal(t, map[string]int{"succeeded/": 1}, b.waitAll([]string{id}, 20*time.Second))
	require.True(t, b.kg.Resets()[0].Known)
	code, out := b.check("licensing")
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, "environment: production")
}

// TestKeygenBannedUsersEndTheSameWayWithAndWithoutVerifyUser: Keygen sends
// the reset to a banned user; with verify_user resetq does not skip it.
func TestKeygenBannedUsersEndTheSameWayWithAndWithoutVerifyUser(t *testing.T) {
	t.Parallel()
	b := setupKeygen(t, 10, "    token: \"{{token}}\"\n  - {name: verified, type: keygen, base_url: \"{{url}}\", account: acme, token: \"{{token}}\", verify_user: true}\n", nil)
	banned := b.sample.Banned[0]
	ids := []string{b.enqueueTo("licensing", banned, "plain"), b.enqueueTo("verified", banned, "verified")}
	require.Equal(t, map[string]int{"succeeded/": 2}, b.waitAll(ids, 20*time.Second))
	require.Equal(t, 2, b.kg.ResetCount(banned))
}

func TestKeygenRefusesUsernamesAtEnqueue(t *testing.T) {
	t.Parallel()
	b := setupKeygen(t, 3, "    token: \"{{token}}\"\n", nil)
	_, err := b.client.Enqueue(context.Background(), producer.Request{Provider: "licensing", User: tasks.User{Username: "alice"}})
	require.ErrorIs(t, err, producer.ErrInvalidRequest)
	require.ErrorContains(t, err, `provider "licensing" is a keygen provider, which resets users by email only (not by username)`)
}

func TestProviderCheckForKeygen(t *testing.T) {
	t.Parallel()
	b := setupKeygen(t, 3, "    token: \"{{token}}\"\n", nil)
	code, out, errOut := b.cli(t, "provider", "check", "licensing")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "token: the configured token belongs to user admin@acme.example (role admin)")
	require.Contains(t, out, "API version: 1.8 accepted")
	require.Contains(t, out, "set verify_user: true")

	yaml, err := os.ReadFile(b.path)
	require.NoError(t, err)
	for _, tt := range []struct{ from, to, want string }{
		{b.token, "admin-0000v3", "create a new admin or product token"},
		{"account: acme", "account: nope", `account "nope" does not exist`},
		{"    account: acme\n", "    account: acme\n    keygen_version: \"0.9\"\n", "keygen_version"},
	} {
		require.NoError(t, os.WriteFile(b.path, []byte(strings.Replace(string(yaml), tt.from, tt.to, 1)), 0o600))
		code, out, _ := b.cli(t, "provider", "check", "licensing")
		require.Equal(t, exitFailure, code, tt.want)
		require.Contains(t, out, tt.want)
		require.NotContains(t, out, b.token)
	}
}
