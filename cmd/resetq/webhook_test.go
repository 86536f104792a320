package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/tasks"
)

const hookSecret = "whsec_dGVzdC13ZWJob29rLXNlY3JldC1mb3ItcmVzZXRxLWUyZQ=="

// hookReceiver is a webhook receiver on a fixed loopback port that can be
// taken down and brought back.
type hookReceiver struct {
	t      *testing.T
	addr   string
	wh     *standardwebhooks.Webhook
	mu     sync.Mutex
	srv    *http.Server
	events []hookEvent
	fail   int // answer 500 to this many more deliveries
}

type hookEvent struct {
	id, typ string
	body    []byte
	verr    error
}

func newHookReceiver(t *testing.T) *hookReceiver {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	wh, err := standardwebhooks.NewWebhook(hookSecret)
	require.NoError(t, err)
	r := &hookReceiver{t: t, addr: l.Addr().String(), wh: wh}
	r.serve(l)
	t.Cleanup(r.down)
	return r
}

func (r *hookReceiver) serve(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var env struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(body, &env)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.events = append(r.events, hookEvent{req.Header.Get("webhook-id"), env.Type, body, r.wh.Verify(body, req.Header)})
		if r.fail > 0 {
			r.fail--
			w.WriteHeader(500)
		}
	})}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

func (r *hookReceiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (r *hookReceiver) up() {
	var l net.Listener
	var err error
	for range 50 { // the port was just released
		if l, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(r.t, err)
	r.serve(l)
}

func (r *hookReceiver) received() []hookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookEvent(nil), r.events...)
}

func (r *hookReceiver) section(schedule string) string {
	return fmt.Sprintf(`webhooks:
  retry_schedule: %s
  endpoints:
    - name: app
      url: http://%s/hooks/resetq
      secret: %s
      allow_private_networks: true
`, schedule, r.addr, hookSecret)
}

func TestWebhookRetriedWithTheSameIDAndTheResetSentOnce(t *testing.T) {
	t.Parallel()
	r := newHookReceiver(t)
	r.fail = 2
	b := setup(t, settings{webhooks: r.section("[200ms, 200ms, 1h]")})
	res := b.wait(b.enqueue(tasks.User{Email: b.sample.Emails[0]}, "HD-1"), 10*time.Second)
	require.Equal(t, tasks.Succeeded, res.Outcome)
	eventually(t, 15*time.Second, func() bool { return len(r.received()) == 3 }, "three attempts")
	got := r.received()
	for _, e := range got {
		require.Equal(t, got[0].id, e.id, "one webhook-id across the retries")
		require.Equal(t, "reset.succeeded", e.typ)
		require.NoError(t, e.verr, "verified with the Standard Webhooks library")
	}
	require.Len(t, b.kc.RequestsTo(keycloaktest.EndpointExecuteActions), 1, "a webhook retry never repeats a reset")
	eventually(t, 5*time.Second, func() bool {
		return b.metric("resetq_webhook_deliveries_total", map[string]string{"outcome": "delivered"}) == 1
	}, "delivered metric")
	require.Equal(t, 2.0, b.metric("resetq_webhook_deliveries_total", map[string]string{"outcome": "retried"}))

	var body struct {
		Data struct {
			TaskID string            `json:"task_id"`
			User   map[string]string `json:"user"`
			Meta   map[string]string `json:"meta"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(got[0].body, &body))
	require.Equal(t, res.TaskID, body.Data.TaskID)
	require.Equal(t, b.sample.Emails[0], body.Data.User["email"])
}

func TestReceiverDownForAWhileLosesNothing(t *testing.T) {
	t.Parallel()
	r := newHookReceiver(t)
	r.down()
	b := setup(t, settings{users: 120, webhooks: r.section("[300ms, 500ms, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s]")})
	var ids []string
	for i, e := range b.sample.Emails[:100] {
		ids = append(ids, b.enqueue(tasks.User{Email: e}, fmt.Sprint(i)))
	}
	got := b.waitAll(ids, 60*time.Second)
	require.Equal(t, 100, got[tasks.Succeeded])
	eventually(t, 10*time.Second, func() bool {
		return b.metric("resetq_webhook_deliveries_total", map[string]string{"outcome": "retried"}) >= 100
	}, "every delivery failed at least once while the receiver was down")

	r.up()
	distinct := func() map[string]bool {
		seen := map[string]bool{}
		for _, e := range r.received() {
			require.NoError(t, e.verr)
			seen[e.id] = true
		}
		return seen
	}
	eventually(t, 60*time.Second, func() bool { return len(distinct()) == 100 }, "all 100 events delivered")
	require.Len(t, r.received(), 100, "each delivered once the receiver was back")
	require.Len(t, b.kc.RequestsTo(keycloaktest.EndpointExecuteActions), 100, "100 PUTs only")
}

func TestHaltAndResumeAreAnnounced(t *testing.T) {
	t.Parallel()
	r := newHookReceiver(t)
	b := setup(t, settings{webhooks: r.section("[200ms]")})
	b.kc.SetSMTP(realm, keycloaktest.SMTPOff)
	id := b.enqueue(tasks.User{Email: b.sample.Emails[0]}, "x")
	eventually(t, 10*time.Second, func() bool {
		for _, e := range r.received() {
			if e.typ == "provider.halted" {
				return true
			}
		}
		return false
	}, "provider.halted delivered")
	b.kc.SetSMTP(realm, keycloaktest.SMTPOn)
	code, _, errOut := b.cli("provider", "resume", "corp")
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, tasks.Succeeded, b.wait(id, 20*time.Second).Outcome)
	types := func() []string {
		var out []string
		for _, e := range r.received() {
			out = append(out, e.typ)
		}
		return out
	}
	eventually(t, 10*time.Second, func() bool { return len(types()) == 3 }, "three events")
	require.ElementsMatch(t, []string{"provider.halted", "provider.resumed", "reset.succeeded"}, types())
	for _, e := range r.received() {
		if e.typ == "provider.halted" {
			require.Contains(t, string(e.body), "Realm settings")
		}
	}

	// Nothing secret went anywhere: not in an event, not in a log line.
	everything := b.logs.String()
	for _, e := range r.received() {
		everything += string(e.body)
	}
	for _, secret := range append(b.kc.IssuedTokens(), testSecret, hookSecret, strings.TrimPrefix(hookSecret, "whsec_")) {
		require.NotContains(t, everything, secret)
	}
	for _, m := range b.kc.Mails() {
		require.NotContains(t, everything, m.Link)
	}
	require.NotContains(t, b.logs.String(), b.sample.Emails[0])
}

func TestWebhookCommands(t *testing.T) {
	t.Parallel()
	r := newHookReceiver(t)
	b := setup(t, settings{noWorker: true, webhooks: r.section("[1s]")})

	code, out, errb := b.cli("webhook", "test", "http://"+r.addr+"/hooks/resetq", "--allow-private-networks", "--secret", hookSecret)
	require.Equal(t, exitOK, code, errb)
	require.Contains(t, out, "→ 200")
	require.NoError(t, r.received()[0].verr, "the sample is signed")

	code, out, _ = b.cli("webhook", "test", "http://"+r.addr+"/hooks/resetq", "--allow-private-networks", "--event", "provider.halted")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "signed with a new secret")
	require.Equal(t, "provider.halted", r.received()[1].typ)

	code, _, errb = b.cli("webhook", "test", "http://"+r.addr+"/hooks/resetq")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errb, "allow_private_networks")
	code, _, errb = b.cli("webhook", "test", "https://127.0.0.1/x")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errb, "private, loopback or link-local")

	code, out, _ = b.cli("webhook", "list")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "app  http://"+r.addr+"/hooks/resetq")
	require.Contains(t, out, "state: enabled")
	require.NotContains(t, out, hookSecret)

	code, out, _ = b.cli("webhook", "enable", "app")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "was not disabled")
	code, _, _ = b.cli("webhook", "enable", "nope")
	require.Equal(t, exitUsage, code)
}
