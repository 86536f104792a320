package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/tasks"
)

// cli runs the command line in-process and returns its exit code and output.
func (b *bundle) cli(args ...string) (int, string, string) {
	b.t.Helper()
	return b.configured.cli(b.t, args...)
}

func (b *bundle) taskKeys() []string {
	b.t.Helper()
	keys, err := b.rdb.Keys(context.Background(), "asynq:{"+tasks.QueueName("corp")+"}:t:*").Result()
	require.NoError(b.t, err)
	return keys
}

func TestEnqueueRejectsBadInputAndEnqueuesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{noWorker: true})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no user", []string{"--provider", "corp"}, "give exactly one of --email, --username or --user-id"},
		{"two users", []string{"--provider", "corp", "--email", "a@example.com", "--username", "a"}, "give exactly one of --email, --username or --user-id"},
		{"bad email", []string{"--provider", "corp", "--email", "not-an-email"}, `user.email: "not-an-email" is not an email address`},
		{"unknown provider", []string{"--provider", "okta", "--email", "a@example.com"}, `provider "okta" is not configured (configured: corp)`},
		{"unknown action", []string{"--provider", "corp", "--email", "a@example.com", "--action", "RESET_ALL"}, `actions[0]: unknown action "RESET_ALL"`},
		{"bad meta", []string{"--provider", "corp", "--email", "a@example.com", "--meta", "ticket"}, `--meta "ticket" must be key=value`},
		{"no provider", []string{"--email", "a@example.com"}, "--provider is required"},
		{"unknown flag", []string{"--provider", "corp", "--emial", "a@example.com"}, "unknown flag: --emial"},
		{"bad wait", []string{"--provider", "corp", "--email", "a@example.com", "--wait=soon"}, `invalid argument "soon" for "--wait"`},
		{"bad output", []string{"--provider", "corp", "--email", "a@example.com", "--output", "yaml"}, `--output must be text or json`},
		{"stray argument", []string{"alice@example.com", "--provider", "corp"}, `unexpected argument "alice@example.com"`},
		{"zero wait", []string{"--provider", "corp", "--email", "a@example.com", "--wait", "0s"}, "--wait must be a positive duration"},
	}
	for _, tt := range tests {
		code, out, errb := b.cli(append([]string{"enqueue"}, tt.args...)...)
		require.Equal(t, exitUsage, code, tt.name)
		require.Empty(t, out, tt.name)
		require.Contains(t, errb, tt.want, tt.name)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"enqueue", "--provider", "corp", "--email", "a@example.com",
		"--config", filepath.Join(t.TempDir(), "missing.yaml")}, &out, &errb)
	require.Equal(t, exitUsage, code)
	require.Contains(t, errb.String(), "missing.yaml does not exist (pass --config FILE or set RESETQ_CONFIG)")

	require.Empty(t, b.taskKeys(), "bad input enqueued nothing")
}

func TestEnqueueRefusesAKeyUsedForAnotherUser(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{noWorker: true})
	code, out, errb := b.cli("enqueue", "--provider", "corp", "--email", "alice@example.com", "--idempotency-key", "HD-7")
	require.Equal(t, exitOK, code, errb)
	first := strings.Fields(out)[0]

	code, out, errb = b.cli("enqueue", "--provider", "corp", "--email", "bob@example.com", "--idempotency-key", "HD-7")
	require.Equal(t, exitUsage, code, "a used key for another user is refused: %s", out)
	require.Empty(t, out)
	require.Equal(t, "resetq: idempotency key \"HD-7\" already names a reset through corp for another user, other actions "+
		"or other meta; send a new key for a new request (nothing was enqueued)\n", errb)

	code, out, errb = b.cli("enqueue", "--provider", "corp", "--email", "alice@example.com", "--idempotency-key", "HD-7", "--output", "json")
	require.Equal(t, exitOK, code, errb)
	var res enqueueOutput
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.True(t, res.Duplicate, "the same request is still a duplicate")
	require.Equal(t, first, res.TaskID)
	require.Len(t, b.taskKeys(), 1)
}

func TestEnqueueWaitExitCodes(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{})

	code, out, errb := b.cli("enqueue", "--provider", "corp", "--email", b.sample.Emails[0], "--wait", "--idempotency-key", "HD-9")
	require.Equal(t, exitOK, code, errb)
	require.Regexp(t, `^r-[0-9a-f]{32} enqueued on resetq-corp\nsucceeded after 1 attempt: the identity provider sent the email\n$`, out)

	code, out, _ = b.cli("enqueue", "--provider", "corp", "--email", b.sample.Emails[0], "--idempotency-key", "HD-9")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "duplicate")
	require.Equal(t, 1, b.kc.TotalResets())

	code, out, _ = b.cli("enqueue", "--provider", "corp", "--email", "nobody@example.com", "--wait", "20s")
	require.Equal(t, exitFailure, code, "skipped is not success")
	require.Contains(t, out, "skipped (user_not_found) after 1 attempt")

	code, out, _ = b.cli("enqueue", "--provider", "corp", "--username", b.sample.NoEmail, "--wait", "--output", "json",
		"--meta", "ticket=HD-10")
	require.Equal(t, exitFailure, code)
	var res enqueueOutput
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Equal(t, "skipped", res.Outcome)
	require.Equal(t, "no_email", res.Reason)
	require.True(t, tasks.ValidTaskID(res.TaskID))
	require.Equal(t, tasks.Requester{Actor: cliWho()}, res.Requester, "the outcome says who asked")
	require.Regexp(t, `^cli:[^@]+@.+$`, res.Requester.Actor)
	require.Contains(t, b.logs.String(), `"requester":"`+cliWho()+`"`, "the reset's log line says who asked")

	code, out, _ = b.cli("enqueue", "--provider", "corp", "--user-id", b.kc.UserID(realm, "user0005"), "--output", "json")
	require.Equal(t, exitOK, code)
	var noWait enqueueOutput
	require.NoError(t, json.Unmarshal([]byte(out), &noWait))
	require.Equal(t, "resetq-corp", noWait.Queue)
	require.Empty(t, noWait.Outcome, "without --wait there is no outcome yet")
}

func TestEnqueueWaitOnAHaltedProviderSaysWhatToDo(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{secret: "wrong"})
	eventually(t, 10*time.Second, func() bool { return strings.Contains(b.logs.String(), "provider halted") }, "halted")
	code, out, _ := b.cli("enqueue", "--provider", "corp", "--email", b.sample.Emails[0], "--wait", "300ms")
	require.Equal(t, exitTimeout, code)
	require.Contains(t, out, "no outcome within 300ms; the task is still queued (state pending)")
	require.Contains(t, out, "provider corp is halted since")
	require.Contains(t, out, "auth.client_secret")
	require.Contains(t, out, "resetq provider resume corp")
	require.Len(t, b.taskKeys(), 1, "the task is kept")
}

func TestProviderCheckSaysPlainlyWhatIsWrong(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{noWorker: true})
	b.kc.AddServiceAccount(realm, "viewer", testSecret, keycloaktest.RoleViewUsers)
	b.kc.AddServiceAccount(realm, "querier", testSecret, keycloaktest.RoleQueryUsers)
	b.kc.AddServiceAccount(realm, "nobody", testSecret, "view-clients")
	b.kc.AddClient(realm, keycloaktest.Client{ClientID: "nosa", Secret: testSecret, Enabled: true})
	base := mustRead(t, b.path)

	code, out, _ := b.cli("provider", "check", "corp")
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, "ok    token: client_credentials grant for client \"resetq\" from realm \"corp\"")
	require.Contains(t, out, "role: manage-users")
	require.Contains(t, out, "provider corp: ready")

	tests := []struct {
		name, from, to string
		want           []string
	}{
		{"wrong secret", testSecret, "wrong", []string{"FAIL  token: HTTP 401 unauthorized_client", "check auth.client_secret", "credentials_rejected"}},
		{"unknown client", "client_id: resetq", "client_id: ghost", []string{"client \"ghost\" is unknown or disabled"}},
		{"no service account", "client_id: resetq", "client_id: nosa", []string{"turn on \"Service accounts roles\""}},
		{"view only", "client_id: resetq", "client_id: viewer", []string{"can view users but not manage them", "needs the manage-users role"}},
		{"query only", "client_id: resetq", "client_id: querier", []string{"query-users only", "needs the manage-users role"}},
		{"no role", "client_id: resetq", "client_id: nobody", []string{"HTTP 403", "permission_denied"}},
		{"wrong realm", "realm: corp", "realm: Corp", []string{"token endpoint", "answered 404", "auth.realm \"Corp\""}},
		{"wrong base path", b.kc.URL(), b.kc.URL() + "/auth", []string{"answered 404", "/auth prefix"}},
	}
	for _, tt := range tests {
		b.writeConfig(strings.Replace(base, tt.from, tt.to, 1))
		code, out, _ := b.cli("provider", "check", "corp")
		require.Equal(t, exitFailure, code, tt.name)
		require.Contains(t, out, "provider corp: NOT ready", tt.name)
		for _, w := range tt.want {
			require.Contains(t, out, w, tt.name)
		}
		require.NotContains(t, out, testSecret, tt.name)
	}

	b.writeConfig(strings.Replace(base, testSecret, "wrong", 1))
	code, out, _ = b.cli("provider", "check", "corp", "--output", "json")
	require.Equal(t, exitFailure, code)
	var res checkOutput
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.False(t, res.OK)
	require.Equal(t, "credentials_rejected", res.Reason)
	require.Contains(t, res.Fix, "auth.client_secret")

	code, _, errb := b.cli("provider", "check", "okta")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errb, `provider "okta" is not in`)
	require.Empty(t, b.kc.RequestsTo(keycloaktest.EndpointExecuteActions), "a check sends no email")
}

func TestProviderResumeOfARunningProvider(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{noWorker: true})
	code, out, _ := b.cli("provider", "resume", "corp")
	require.Equal(t, exitOK, code)
	require.Equal(t, "provider corp was not halted; its queue is running\n", out)
	code, _, errb := b.cli("provider", "resume")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errb, "accepts 1 arg")
}

func TestVersionAndUsage(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	require.Equal(t, exitOK, run(context.Background(), []string{"version"}, &out, &errb))
	require.Regexp(t, `^resetq \S+ \(revision \S+, go1\.\d+`, out.String())
	out.Reset()
	require.Equal(t, exitOK, run(context.Background(), []string{"version", "--output", "json"}, &out, &errb))
	require.Contains(t, out.String(), `"go":"go1.`)
	errb.Reset()
	require.Equal(t, exitUsage, run(context.Background(), []string{"frobnicate"}, &out, &errb))
	require.Contains(t, errb.String(), `unknown command "frobnicate"`)
}

func TestWorkerCommandServesAndStopsOnSignal(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{noWorker: true})
	addr := freeAddr(t)
	b.writeConfig(strings.Replace(mustRead(t, b.path), "listen: 127.0.0.1:0", "listen: "+addr, 1))

	worker := startCommand(t, addr, "worker", "--config", b.path)
	r := b.wait(b.enqueue(tasks.User{Email: b.sample.Emails[0]}, ""), 10*time.Second)
	require.Equal(t, tasks.Succeeded, r.Outcome)
	require.Equal(t, exitOK, worker.stop(), worker.errb.String())
	require.Contains(t, worker.errb.String(), `"msg":"resetq worker started"`)
	require.Contains(t, worker.errb.String(), `"msg":"resetq worker stopped"`)
}

func TestDevDrainsTheDemoBatch(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"dev", "--users", "12", "--demo", "40", "--listen", "127.0.0.1:0",
			"--latency", "0s", "--summary-every", "20ms"}, &out, &errb)
	}()
	line := regexp.MustCompile(`succeeded (\d+) · skipped (\d+) · failed (\d+) · [\d.]+/s · waiting 0`)
	eventually(t, 30*time.Second, func() bool {
		m := line.FindAllStringSubmatch(out.String(), -1)
		if len(m) == 0 {
			return false
		}
		last := m[len(m)-1]
		s, _ := strconv.Atoi(last[1])
		k, _ := strconv.Atoi(last[2])
		return s+k == 40
	}, "the demo batch drained: %s", out.String())
	// The console, for its operator with the password of the run.
	console := regexp.MustCompile(`console +http://(\S+)(/console/) +user dev, password (\S+)`).FindStringSubmatch(out.String())
	require.NotNil(t, console, out.String())
	status, page := consoleDo(t, console[1], "dev", console[3], http.MethodGet, console[2])
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "dev · operator")
	require.Contains(t, page, `id="provider-licensing"`)
	cancel()
	require.Equal(t, exitOK, <-done, errb.String())
	o := out.String()
	require.NotContains(t, errb.String(), console[3], "the password is printed once, to stdout")
	require.Contains(t, o, "Keycloak emulator")
	require.Contains(t, o, "Kratos emulator")
	require.Contains(t, o, "Firebase emulator")
	require.Regexp(t, `emulated Firebase [1-9]\d*; emulated Okta [1-9]\d*; emulated Cognito [1-9]\d*\n`, o, "the demo reached Firebase, Okta and Cognito")
	require.Contains(t, o, "go run ./cmd/resetq enqueue --config ")
	final := regexp.MustCompile(`succeeded (\d+) · skipped (\d+) · failed 0 in `).FindStringSubmatch(o)
	require.NotNil(t, final, o)
	skipped, _ := strconv.Atoi(final[2])
	require.Positive(t, skipped, "the demo shows skips too")
	require.Regexp(t, `emulated Keycloak sent \d+ emails using 1 token requests`, o)
	require.Regexp(t, `webhook reset\.succeeded +demo +r-[0-9a-f]{32}  signature ok`, o, "the dev receiver verified and printed events")
	require.NotContains(t, o, "SIGNATURE REJECTED")
	cfg := regexp.MustCompile(`configuration\s+(\S+)`).FindStringSubmatch(o)
	require.NotNil(t, cfg)
	_, err := os.Stat(cfg[1])
	require.True(t, os.IsNotExist(err), "the temporary configuration is removed")
	require.NotContains(t, errb.String(), devSecret)
}

func TestEmulatorFaultQueryNamesTheBadField(t *testing.T) {
	t.Parallel()
	f, err := parseFault(url.Values{"endpoint": {"execute-actions-email"}, "status": {"429"}, "every": {"2"}, "retry_after": {"3s"}})
	require.NoError(t, err)
	require.Equal(t, keycloaktest.Fault{Endpoint: keycloaktest.EndpointExecuteActions, Status: 429, Every: 2, RetryAfter: 3 * time.Second}, f)
	for query, field := range map[string]string{
		"status=200":                "status",
		"status=abc":                "status",
		"status=503&times=-1":       "times",
		"status=503&every=x":        "every",
		"status=429&retry_after=3":  "retry_after",
		"status=700":                "status",
		"endpoint=reset&status=503": "endpoint",
	} {
		q, err := url.ParseQuery(query)
		require.NoError(t, err)
		_, err = parseFault(q)
		require.ErrorContains(t, err, field+"=", query)
	}
}
