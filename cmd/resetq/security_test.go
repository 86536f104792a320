package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/idp/keygen/keygentest"
	"github.com/resetq/resetq/internal/checks"
	"github.com/resetq/resetq/internal/deploysecret"
	"github.com/resetq/resetq/internal/redistest"
)

// TestNothingLeaks runs resetq through everything it does — resets by
// every route, a campaign with its report, webhooks, a halt, a provider
// check, an IdP error page that echoes the request's credentials — with
// known secrets everywhere, then reads every log line, every metric, every
// webhook body, every report and every answer, and finds none of them:
// no secret, no token, no reset link; and no user in a metric label or a
// log line.
func TestNothingLeaks(t *testing.T) {
	t.Parallel()
	const (
		redisPassword = "Redis-pw-4c1d9e7b2a"
		clientSecret  = "Client-secret-9f2e7d1c3b"
		adminPassword = "Admin-pw-ops-7f3b9c5e1a"
		wrongSecret   = "Wrong-secret-d8e1c7aa2b"
		keygenPass    = "Keygen-pw-51e0c3a9bd"
		uiToken       = "Ui-token-b7d2e9f40c6a13"
		apiToken      = "Api-token-0e9d8c7b6a5f43"
	)
	rs := redistest.Start(t, "--requirepass", redisPassword)
	kc := keycloaktest.NewServer()
	t.Cleanup(kc.Close)
	kc.AddServiceAccount("corp", "resetq", clientSecret)
	kc.AddServiceAccount("bad", "resetq", "the-real-secret-of-bad")
	sample := kc.AddSampleUsers("corp", 40)
	kc.AddSampleUsers("staff", 10)
	staffEmail := "user0003@example.com"
	kc.AddUser("master", keycloaktest.User{Username: "ops-admin", Password: adminPassword, Enabled: true,
		Grants: map[string][]string{"staff": {keycloaktest.RoleManageUsers}}})
	kg := keygentest.NewServer()
	t.Cleanup(kg.Close)
	acct := kg.AddAccount(keygentest.Account{Slug: "acme"})
	kgAdminToken := kg.AddAdmin(acct, "ops@acme.example", keygenPass)
	kgSample := kg.AddSampleUsers(acct, 10)
	hooks := newHookReceiver(t)

	listen := freeAddr(t)
	cfgText := fmt.Sprintf(`redis: {url: "redis://:%s@%s/0"}
worker: {concurrency: 4, poll_interval: 20ms}
http: {listen: %q, auth: {token: %s}}
log: {format: json, level: debug}
campaigns: {feed_interval: 20ms}
api:
  in_worker: true
  tokens: [{name: ops, token: %s, scopes: [resets, outcomes, campaigns]}]
providers:
  - {name: corp, type: keycloak, base_url: %q, realm: corp, max_retries: 3, auth: {client_id: resetq, client_secret: %s}}
  - {name: staff, type: keycloak, base_url: %q, realm: staff, auth: {grant: password, realm: master, username: ops-admin, password: %s}}
  - {name: bad, type: keycloak, base_url: %q, realm: bad, auth: {client_id: resetq, client_secret: %s}}
  - {name: licensing, type: keygen, base_url: %q, account: acme, verify_user: true, auth: {email: ops@acme.example, password: %s}}
%s`, redisPassword, rs.Addr, listen, uiToken, apiToken, kc.URL(), clientSecret, kc.URL(), adminPassword,
		kc.URL(), wrongSecret, kg.URL(), keygenPass, hooks.section("[200ms, 500ms]"))
	c := configure(t, cfgText)
	client := c.client
	logs := &syncBuffer{}
	w := c.start(t, logs)
	base := "http://" + w.listener.Addr

	var corpus []string // everything resetq said, to anyone
	keep := func(what string, b []byte) { corpus = append(corpus, what+": "+string(b)) }
	cli := func(args ...string) (int, string) {
		code, out, errOut := c.cli(t, args...)
		keep("cli "+strings.Join(args, " "), []byte(out+errOut))
		return code, out
	}
	call := func(method, path, contentType string, body io.Reader) (int, []byte) {
		req, err := http.NewRequest(method, base+path, body)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+apiToken)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		keep(method+" "+path, b)
		return res.StatusCode, b
	}

	// Resets by every route.
	code, _ := cli("enqueue", "--provider", "corp", "--email", sample.Emails[0], "--wait", "20s")
	require.Equal(t, exitOK, code)
	code, _ = cli("enqueue", "--provider", "staff", "--email", staffEmail, "--wait", "20s")
	require.Equal(t, exitOK, code)
	code, _ = cli("enqueue", "--provider", "licensing", "--email", kgSample.Emails[0], "--wait", "20s")
	require.Equal(t, exitOK, code)
	status, b := call("POST", "/v1/resets", "application/json",
		strings.NewReader(`{"provider":"corp","user":{"email":"`+sample.Emails[1]+`"}}`))
	require.Equal(t, http.StatusAccepted, status, "%s", b)
	var acc struct{ ID string }
	require.NoError(t, json.Unmarshal(b, &acc))
	waitOutcome(t, client, acc.ID, 20*time.Second)
	status, _ = call("GET", "/v1/resets/"+acc.ID, "", nil)
	require.Equal(t, http.StatusOK, status)

	// IdP error pages that echo the credentials they were sent: one the
	// reset retries past, one that fails it (its text is the outcome's
	// error, printed and logged).
	corpTokens := kc.IssuedTokensIn("corp")
	echo := "<html><pre>PUT … Authorization: Bearer " + corpTokens[len(corpTokens)-1] + " client_secret=" + clientSecret + "</pre></html>"
	kc.FailNext(keycloaktest.EndpointExecuteActions, 1, 502, echo)
	code, _ = cli("enqueue", "--provider", "corp", "--email", sample.Emails[2], "--wait", "30s")
	require.Equal(t, exitOK, code, "retried past the error page")
	kc.FailNext(keycloaktest.EndpointExecuteActions, 1, 400, echo)
	code, out := cli("enqueue", "--provider", "corp", "--email", sample.Emails[13], "--wait", "30s")
	require.Equal(t, exitFailure, code)
	require.Contains(t, out, "[redacted]", "the page is quoted, its secrets are not")

	// A campaign through the API, with users that do not exist, and its
	// reports.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	require.NoError(t, mw.WriteField("provider", "corp"))
	require.NoError(t, mw.WriteField("name", "leaks"))
	fw, err := mw.CreateFormFile("file", "users.csv")
	require.NoError(t, err)
	fmt.Fprintf(fw, "email,ticket\n")
	for _, e := range sample.Emails[3:13] {
		fmt.Fprintf(fw, "%s,T-1\n", e)
	}
	fmt.Fprintf(fw, "nobody-1@example.com,T-2\nnobody-2@example.com,T-3\n")
	require.NoError(t, mw.Close())
	status, b = call("POST", "/v1/campaigns", mw.FormDataContentType(), &buf)
	require.Equal(t, http.StatusCreated, status, "%s", b)
	eventually(t, 30*time.Second, func() bool {
		c, err := client.GetCampaign(context.Background(), "leaks")
		return err == nil && c.Done()
	}, "the campaign ends")
	status, _ = call("GET", "/v1/campaigns/leaks/report?format=json", "", nil)
	require.Equal(t, http.StatusOK, status)
	code, _ = cli("campaign", "report", "leaks")
	require.Equal(t, exitOK, code)
	code, _ = cli("campaign", "status", "leaks", "--output", "json")
	require.Equal(t, exitOK, code)

	// A halt (the wrong secret), and the checks that explain it.
	code, _ = cli("enqueue", "--provider", "bad", "--email", "anyone@example.com", "--wait", "2s")
	require.Equal(t, exitTimeout, code, "the task waits for the resume")
	code, _ = cli("provider", "check", "bad")
	require.NotEqual(t, exitOK, code)
	code, _ = cli("provider", "check", "corp")
	require.Equal(t, exitOK, code)
	code, _ = cli("webhook", "list")
	require.Equal(t, exitOK, code)
	// The checks are kept for the console, the failed one with its problem.
	for _, p := range []string{"bad", "corp"} {
		b, err := c.rdb.Get(context.Background(), checks.KeyPrefix+p).Bytes()
		require.NoError(t, err, "the check of %s is kept", p)
		keep("the kept check of "+p, b)
	}

	eventually(t, 30*time.Second, func() bool {
		n := 0
		for _, e := range hooks.received() {
			if strings.HasPrefix(e.typ, "reset.") {
				n++
			}
		}
		return n >= 17 && len(hooks.ofType("campaign.completed")) == 1 && len(hooks.ofType("provider.halted")) == 1
	}, "the events are delivered")
	for _, e := range hooks.received() {
		keep("webhook "+e.typ, e.body)
	}

	// Scrapes and health.
	for _, path := range []string{"/metrics", "/readyz", "/healthz"} {
		res, err := http.Get(base + path)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		keep(path, b)
	}
	families, err := w.registry.Gather()
	require.NoError(t, err)
	users := append(append(append([]string{}, sample.Emails...), kgSample.Emails...), staffEmail, "nobody-1@example.com")
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				require.NotContains(t, l.GetValue(), "@", "%s{%s=%q} holds an address", f.GetName(), l.GetName(), l.GetValue())
				for _, u := range users {
					require.NotContains(t, l.GetValue(), u)
				}
			}
		}
	}
	// The UI and the API refuse who has no credentials.
	for _, path := range []string{"/ui/", "/v1/campaigns"} {
		res, err := http.Get(base + path)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusUnauthorized, res.StatusCode, path)
	}
	keep("worker log", []byte(logs.String()))

	// What must appear nowhere.
	secrets := map[string]string{"the Redis password": redisPassword, "a client secret": clientSecret,
		"the admin password": adminPassword, "the wrong secret": wrongSecret, "the Keygen password": keygenPass,
		"the UI token": uiToken, "the API token": apiToken, "the Keygen admin token": kgAdminToken, "the webhook secret": hookSecret}
	for i, tok := range kc.IssuedTokens() {
		secrets[fmt.Sprintf("Keycloak token %d", i)] = tok
	}
	for i, tok := range kg.Tokens(acct) {
		secrets[fmt.Sprintf("Keygen token %d", i)] = tok
	}
	mails := kc.Mails()
	require.NotEmpty(t, mails)
	for i, m := range mails {
		require.NotEmpty(t, m.Link)
		secrets[fmt.Sprintf("reset link %d", i)] = m.Link
		// The action token alone, in case a link were ever cut up.
		if _, tok, ok := strings.Cut(m.Link, "key="); ok {
			secrets[fmt.Sprintf("action token %d", i)] = strings.Split(tok, "&")[0]
		}
	}
	all := strings.Join(corpus, "\n")
	require.Greater(t, len(all), 10000, "a corpus worth scanning")
	for what, s := range secrets {
		require.NotEmpty(t, s, what)
		require.NotContains(t, all, s, "%s leaked", what)
	}
	// Logs name no user (log.include_user is off): a short hash stands in.
	log := logs.String()
	for _, u := range append(append([]string{staffEmail}, sample.Emails[:14]...), kgSample.Emails[0], "nobody-1@example.com") {
		require.NotContains(t, log, u, "the log names a user")
	}
	require.Contains(t, log, `"user":"email:`, "users are logged as a hash")
	// A keyed one: hashing a list of known addresses finds nobody in it.
	for _, u := range sample.Emails[:14] {
		unkeyed := sha256.Sum256([]byte("email:" + u))
		require.False(t, strings.Contains(log, "email:"+hex.EncodeToString(unkeyed[:6])), "an unkeyed hash in the log reverses to %s", u)
	}
	rc := redis.NewClient(&redis.Options{Addr: rs.Addr, Password: redisPassword})
	defer rc.Close()
	secret, err := rc.Get(context.Background(), deploysecret.Key).Result()
	require.NoError(t, err)
	require.NotContains(t, all, secret, "the deployment secret leaked")
	require.Contains(t, log, "[redacted]", "the echoed error page was quoted with its secrets redacted")
}
