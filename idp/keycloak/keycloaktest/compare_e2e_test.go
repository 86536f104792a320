//go:build e2e

package keycloaktest_test

// The emulator checked against the real Keycloak (make e2e): one table of
// cases — every row of keycloak.md §2d and §4 and of keycloak-real.md §1 —
// run against both, each built from the same realm file, comparing the
// status, the error body's shape and its message. A difference is a
// failing test: the server is right, and the emulator is fixed to follow.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/realidp"
)

func TestMain(m *testing.M) { realidp.Main(m) }

// world is one side of the comparison: a realm made from realm-e2e.json on
// the real server or on the emulator, with the same knobs played each its
// own way.
type world interface {
	name() string
	url() string
	realm() string
	userID(t *testing.T, username string) string
	// sent counts the mails that went out to addr.
	sent(t *testing.T, addr string) int
	smtpDown(t *testing.T)
	smtpLoginRefused(t *testing.T)
	smtpNone(t *testing.T)
	refuseRecipient(t *testing.T, addr string)
	// slowSMTP makes the relay take d over each mail (past Keycloak's own
	// 10 s timeout when d exceeds it).
	slowSMTP(t *testing.T, d time.Duration)
	brokenTheme(t *testing.T)
	allowUTF8(t *testing.T)
	disableServiceAccount(t *testing.T, client string)
	adminEvents(t *testing.T)
}

// realWorld is a realm on the real Keycloak.
type realWorld struct{ r *realidp.Realm }

func (w *realWorld) name() string  { return "Keycloak " + realidp.KeycloakVersion }
func (w *realWorld) url() string   { return w.r.KC.URL() }
func (w *realWorld) realm() string { return w.r.Name }
func (w *realWorld) userID(t *testing.T, u string) string {
	return w.r.UserID(t, u)
}
func (w *realWorld) sent(t *testing.T, addr string) int { return w.r.Sent(t, addr) }
func (w *realWorld) smtpDown(t *testing.T) {
	w.r.SendMailTo(t, "127.0.0.1", realidp.ClosedPort(t))
}
func (w *realWorld) smtpLoginRefused(t *testing.T) {
	w.r.Relay.RequireAuth("keycloak", "the-right-one")
	w.smtp(t, map[string]any{"auth": "true", "user": "keycloak", "password": "a-wrong-one"})
}
func (w *realWorld) smtpNone(t *testing.T) {
	w.r.Update(t, map[string]any{"smtpServer": map[string]any{}})
}
func (w *realWorld) refuseRecipient(t *testing.T, addr string) {
	w.r.Relay.RefuseRecipient(func(a string) bool { return strings.EqualFold(a, addr) }, 550, "5.1.1 mailbox unavailable")
}
func (w *realWorld) slowSMTP(t *testing.T, d time.Duration) {
	w.r.Relay.SetDelay(func(step string) time.Duration {
		if step == realidp.StepGreeting {
			return d
		}
		return 0
	})
}
func (w *realWorld) brokenTheme(t *testing.T) {
	w.r.Update(t, map[string]any{"emailTheme": "resetq-broken"})
}
func (w *realWorld) allowUTF8(t *testing.T) { w.smtp(t, map[string]any{"allowutf8": "true"}) }
func (w *realWorld) disableServiceAccount(t *testing.T, client string) {
	ctx := context.Background()
	id := w.userID(t, "service-account-"+client)
	require.NoError(t, w.r.KC.UpdateUser(ctx, w.r.Name, id, map[string]any{"enabled": false}))
}
func (w *realWorld) adminEvents(t *testing.T) {
	w.r.Update(t, map[string]any{"adminEventsEnabled": true})
}

// smtp sets the realm's SMTP settings: its relay, with extra.
func (w *realWorld) smtp(t *testing.T, extra map[string]any) {
	s := map[string]any{"host": w.r.Relay.Host(), "port": strconv.Itoa(w.r.Relay.Port()),
		"from": "resetq-e2e@example.org", "fromDisplayName": "resetq e2e", "auth": "false", "ssl": "false", "starttls": "false"}
	for k, v := range extra {
		s[k] = v
	}
	w.r.Update(t, map[string]any{"smtpServer": s})
}

// emuWorld is the same realm on the emulator.
type emuWorld struct {
	s         *keycloaktest.Server
	realmName string
}

func (w *emuWorld) name() string  { return "the emulator" }
func (w *emuWorld) url() string   { return w.s.URL() }
func (w *emuWorld) realm() string { return w.realmName }
func (w *emuWorld) userID(t *testing.T, u string) string {
	id := w.s.UserID(w.realmName, u)
	require.NotEmpty(t, id, "user %s", u)
	return id
}
func (w *emuWorld) sent(t *testing.T, addr string) int {
	n := 0
	for _, m := range w.s.Mails() {
		if m.Realm == w.realmName && strings.EqualFold(m.To, addr) {
			n++
		}
	}
	return n
}
func (w *emuWorld) smtpDown(t *testing.T) { w.s.SetSMTP(w.realmName, keycloaktest.SMTPUnreachable) }
func (w *emuWorld) smtpLoginRefused(t *testing.T) {
	w.s.SetSMTP(w.realmName, keycloaktest.SMTPUnreachable)
}
func (w *emuWorld) smtpNone(t *testing.T) { w.s.SetSMTP(w.realmName, keycloaktest.SMTPOff) }
func (w *emuWorld) refuseRecipient(t *testing.T, addr string) {
	w.s.RefuseRecipient(w.realmName, addr)
}
func (w *emuWorld) slowSMTP(t *testing.T, d time.Duration) {
	// Keycloak gives up on a relay after its 10 s read timeout.
	if d > 10*time.Second {
		w.s.SetSMTP(w.realmName, keycloaktest.SMTPUnreachable)
		d = 10 * time.Second
	}
	w.s.SlowAnswers(keycloaktest.EndpointExecuteActions, d)
}
func (w *emuWorld) brokenTheme(t *testing.T) {
	w.s.SetSMTP(w.realmName, keycloaktest.SMTPTemplateError)
}
func (w *emuWorld) allowUTF8(t *testing.T) { w.s.SetAllowUTF8(w.realmName, true) }
func (w *emuWorld) disableServiceAccount(t *testing.T, client string) {
	w.s.SetServiceAccountEnabled(w.realmName, client, false)
}
func (w *emuWorld) adminEvents(t *testing.T) { w.s.SetAdminEvents(w.realmName, true) }

// request is one call: a token request (form set) or an admin call.
type request struct {
	method, path string // path under the base URL; {realm} and {user} are filled in
	query        url.Values
	form         url.Values
	body         string
	contentType  string
	// bearer names the client whose client_credentials token is sent; ""
	// sends none, "garbage" a token Keycloak never issued.
	bearer string
}

// reply is what a side said, reduced to what is compared.
type reply struct {
	status  int
	shape   string   // the body's keys, sorted: "error,error_description"
	message string   // errorMessage, else error_description, else error
	users   []string // for a user list: the usernames, sorted
	elapsed time.Duration
}

var secrets = map[string]string{
	"resetq": realidp.E2EClientSecret, "resetq-viewer": realidp.E2EViewerClientSecret,
	"resetq-nosa": realidp.E2ENoSAClientSecret, "resetq-audited": realidp.E2EAuditedClientSecret,
}

func token(t *testing.T, w world, client string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secrets[client]}}
	res, err := http.PostForm(w.url()+"/realms/"+w.realm()+"/protocol/openid-connect/token", form)
	require.NoError(t, err)
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&tok))
	require.NotEmpty(t, tok.AccessToken, "%s's token from %s", client, w.name())
	return tok.AccessToken
}

func (r request) do(t *testing.T, w world, user string) reply {
	t.Helper()
	fill := strings.NewReplacer("{realm}", w.realm(), "{user}", user)
	path := fill.Replace(r.path)
	u := w.url() + path
	if len(r.query) > 0 {
		q := url.Values{}
		for k, vs := range r.query {
			for _, v := range vs {
				q.Add(k, fill.Replace(v))
			}
		}
		u += "?" + q.Encode()
	}
	var body io.Reader
	switch {
	case r.form != nil:
		body = strings.NewReader(r.form.Encode())
	case r.body != "":
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, u, body)
	require.NoError(t, err)
	switch {
	case r.form != nil:
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case r.contentType != "":
		req.Header.Set("Content-Type", r.contentType)
	case r.body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	switch r.bearer {
	case "":
	case "garbage":
		req.Header.Set("Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.garbage.garbage")
	default:
		req.Header.Set("Authorization", "Bearer "+token(t, w, r.bearer))
	}
	start := time.Now()
	res, err := (&http.Client{Timeout: time.Minute}).Do(req)
	require.NoError(t, err, "%s %s on %s", r.method, path, w.name())
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	a := reply{status: res.StatusCode, elapsed: time.Since(start)}
	var list []map[string]any
	if json.Unmarshal(b, &list) == nil && list != nil {
		for _, item := range list {
			if u, ok := item["username"].(string); ok {
				a.users = append(a.users, u)
				continue
			}
			// An admin event: what happened to which kind of path.
			path, _ := item["resourcePath"].(string)
			a.users = append(a.users, fmt.Sprint(item["operationType"], " ", item["resourceType"], " ",
				strings.Replace(path, user, "{user}", 1)))
		}
		sort.Strings(a.users)
		return a
	}
	var obj map[string]any
	if json.Unmarshal(b, &obj) == nil {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range obj {
				if !yield(k) {
					return
				}
			}
		})
		a.shape = strings.Join(keys, ",")
		for _, k := range []string{"errorMessage", "error_description", "error"} {
			if v, ok := obj[k].(string); ok {
				a.message = v
				break
			}
		}
	}
	return a
}

// row is one case of the table.
type row struct {
	name  string
	setup func(t *testing.T, w world)
	req   request
	// user is the username whose id fills {user}; "" leaves an unknown id.
	user string
	// prep, when set, is sent first and its answer not compared.
	prep *request
	// mailTo, when set, is compared: how many mails went to that address.
	mailTo string
}

const execute = "/admin/realms/{realm}/users/{user}/execute-actions-email"

func put(q url.Values, body string) request {
	return request{method: http.MethodPut, path: execute, query: q, body: body, bearer: "resetq"}
}

func cc(client, secret string) request {
	return request{method: http.MethodPost, path: "/realms/{realm}/protocol/openid-connect/token",
		form: url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secret}}}
}

func search(q url.Values) request {
	q.Set("briefRepresentation", "true")
	return request{method: http.MethodGet, path: "/admin/realms/{realm}/users", query: q, bearer: "resetq"}
}

var update = `["UPDATE_PASSWORD"]`

func rows() []row {
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	return []row{
		// keycloak.md §2d, keycloak-real.md §1.7: the token endpoint.
		{name: "token: wrong client secret", req: cc("resetq", "not-the-secret")},
		{name: "token: unknown client", req: cc("ghost", "x")},
		{name: "token: client without service accounts", req: cc("resetq-nosa", realidp.E2ENoSAClientSecret)},
		{name: "token: service account disabled", setup: func(t *testing.T, w world) { w.disableServiceAccount(t, "resetq-viewer") },
			req: cc("resetq-viewer", realidp.E2EViewerClientSecret)},
		{name: "token: public client", req: cc("web", "")},
		{name: "token: wrong user password", req: request{method: http.MethodPost, path: "/realms/{realm}/protocol/openid-connect/token",
			form: url.Values{"grant_type": {"password"}, "client_id": {"web"}, "username": {"alice"}, "password": {"wrong"}}}},
		{name: "token: missing grant_type", req: request{method: http.MethodPost, path: "/realms/{realm}/protocol/openid-connect/token",
			form: url.Values{"client_id": {"resetq"}}}},
		{name: "token: unknown grant_type", req: request{method: http.MethodPost, path: "/realms/{realm}/protocol/openid-connect/token",
			form: url.Values{"grant_type": {"magic"}, "client_id": {"resetq"}}}},
		{name: "token: missing /auth is fine, an extra one is not", req: request{method: http.MethodPost,
			path: "/auth/realms/{realm}/protocol/openid-connect/token", form: cc("resetq", realidp.E2EClientSecret).form}},

		// keycloak.md §4: execute-actions-email, in Keycloak's order.
		{name: "no token", user: "alice", req: request{method: http.MethodPut, path: execute, body: update}},
		{name: "a token Keycloak never issued", user: "alice", req: request{method: http.MethodPut, path: execute, body: update, bearer: "garbage"}},
		{name: "view-only role", user: "alice", req: request{method: http.MethodPut, path: execute, body: update, bearer: "resetq-viewer"}},
		{name: "unknown realm", user: "alice", req: request{method: http.MethodPut,
			path: "/admin/realms/no-such-realm/users/{user}/execute-actions-email", body: update, bearer: "resetq"}},
		{name: "an /auth prefix the server does not have", user: "alice", req: request{method: http.MethodPut,
			path: "/auth" + execute, body: update, bearer: "resetq"}},
		{name: "unknown user id", req: put(nil, update)},
		{name: "disabled user", user: "dave", req: put(nil, update)},
		{name: "user without email", user: "erin", req: put(nil, update)},
		{name: "unknown action", user: "alice", req: put(nil, `["update_password"]`)},
		{name: "body not JSON", user: "alice", req: put(nil, `[`)},
		{name: "body text/plain", user: "alice", req: request{method: http.MethodPut, path: execute, body: update,
			contentType: "text/plain", bearer: "resetq"}},
		{name: "redirect_uri without client_id", user: "alice", req: put(q("redirect_uri", "https://app.example.com/x"), update)},
		{name: "unknown client_id", user: "alice", req: put(q("client_id", "ghost"), update)},
		{name: "bad redirect_uri", user: "alice", req: put(q("client_id", "web", "redirect_uri", "https://evil.example.net/"), update)},
		{name: "good redirect_uri", user: "alice", mailTo: "alice@example.org",
			req: put(q("client_id", "web", "redirect_uri", "https://app.example.com/welcome"), update)},
		{name: "lifespan not a number", user: "alice", req: put(q("lifespan", "abc"), update)},
		{name: "lifespan over int32", user: "alice", req: put(q("lifespan", "2147483648"), update)},
		{name: "lifespan 0", user: "alice", mailTo: "alice@example.org", req: put(q("lifespan", "0"), update)},
		{name: "lifespan negative", user: "alice", mailTo: "alice@example.org", req: put(q("lifespan", "-60"), update)},
		{name: "lifespan int32 max", user: "alice", mailTo: "alice@example.org", req: put(q("lifespan", "2147483647"), update)},
		{name: "empty action list", user: "alice", mailTo: "alice@example.org", req: put(nil, `[]`)},
		{name: "a + address", user: "carol", mailTo: "carol+it@example.org", req: put(nil, update)},

		// keycloak-real.md §1: mail.
		{name: "SMTP not configured", user: "alice", setup: func(t *testing.T, w world) { w.smtpNone(t) }, req: put(nil, update)},
		{name: "SMTP unreachable", user: "alice", setup: func(t *testing.T, w world) { w.smtpDown(t) }, req: put(nil, update)},
		{name: "SMTP refuses the login", user: "alice", setup: func(t *testing.T, w world) { w.smtpLoginRefused(t) }, req: put(nil, update)},
		{name: "recipient refused with 550", user: "alice", mailTo: "alice@example.org",
			setup: func(t *testing.T, w world) { w.refuseRecipient(t, "alice@example.org") }, req: put(nil, update)},
		{name: "non-ASCII recipient", user: "jurgen", mailTo: "jürgen@example.org", req: put(nil, update)},
		{name: "non-ASCII recipient, Allow UTF-8 on", user: "jurgen", mailTo: "jürgen@example.org",
			setup: func(t *testing.T, w world) { w.allowUTF8(t) }, req: put(nil, update)},
		{name: "slow SMTP within Keycloak's timeout", user: "alice", mailTo: "alice@example.org",
			setup: func(t *testing.T, w world) { w.slowSMTP(t, 3*time.Second) }, req: put(nil, update)},
		{name: "slow SMTP past Keycloak's timeout", user: "alice",
			setup: func(t *testing.T, w world) { w.slowSMTP(t, 12*time.Second) }, req: put(nil, update)},
		{name: "broken email theme", user: "alice", setup: func(t *testing.T, w world) { w.brokenTheme(t) }, req: put(nil, update)},

		// §3: finding the user.
		{name: "search: exact email", req: search(q("email", "alice@example.org", "exact", "true"))},
		{name: "search: exact email, other case", req: search(q("email", "ALICE@Example.org", "exact", "true"))},
		{name: "search: case twins", req: search(q("email", "Twin@example.org", "exact", "true"))},
		{name: "search: a + address", req: search(q("email", "carol+it@example.org", "exact", "true"))},
		{name: "search: substring without exact", req: search(q("email", "user00", "max", "100"))},
		{name: "search: username, exact", req: search(q("username", "user007", "exact", "true"))},
		{name: "search: quoted search", req: search(q("search", `"carol+it@example.org"`))},
		{name: "search: nobody", req: search(q("email", "nobody@example.org", "exact", "true"))},
		{name: "search: max and first", req: search(q("email", "user01", "first", "2", "max", "3"))},
		{name: "search: disabled users are listed", req: search(q("username", "dave", "exact", "true"))},
		{name: "search: view-only role", req: request{method: http.MethodGet, path: "/admin/realms/{realm}/users",
			query: q("email", "alice@example.org", "exact", "true"), bearer: "resetq-viewer"}},

		// What confirming a lost reply reads.
		{name: "events settings without view-events", req: request{method: http.MethodGet,
			path: "/admin/realms/{realm}/events/config", bearer: "resetq"}},
		{name: "admin events without view-events", req: request{method: http.MethodGet,
			path: "/admin/realms/{realm}/admin-events", bearer: "resetq"}},
		{name: "events settings with view-events", setup: func(t *testing.T, w world) { w.adminEvents(t) },
			req: request{method: http.MethodGet, path: "/admin/realms/{realm}/events/config", bearer: "resetq-audited"}},
		{name: "admin events of a sent mail", user: "alice", setup: func(t *testing.T, w world) { w.adminEvents(t) },
			prep: &request{method: http.MethodPut, path: execute, body: update, bearer: "resetq-audited"},
			req: request{method: http.MethodGet, path: "/admin/realms/{realm}/admin-events", bearer: "resetq-audited",
				query: q("operationTypes", "ACTION", "resourceTypes", "USER", "resourcePath", "users/{user}/execute-actions-email",
					"dateFrom", strconv.FormatInt(time.Now().Add(-time.Minute).UnixMilli(), 10))}},
		{name: "admin events: none before dateFrom", user: "alice", setup: func(t *testing.T, w world) { w.adminEvents(t) },
			prep: &request{method: http.MethodPut, path: execute, body: update, bearer: "resetq-audited"},
			req: request{method: http.MethodGet, path: "/admin/realms/{realm}/admin-events", bearer: "resetq-audited",
				query: q("operationTypes", "ACTION", "dateFrom", strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10))}},
	}
}

func TestTheEmulatorAnswersAsTheRealKeycloak(t *testing.T) {
	t.Parallel()
	kc := realidp.TestKeycloak(t)
	for _, tt := range rows() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := realidp.NewTestRealm(t, kc)
			emu := keycloaktest.NewServer()
			t.Cleanup(emu.Close)
			require.NoError(t, emu.ImportRealm(realidp.E2ERealm(r.Name, realidp.SMTP{Host: "127.0.0.1", Port: 25})))
			sides := []world{&realWorld{r}, &emuWorld{s: emu, realmName: r.Name}}
			var got [2]reply
			var mails [2]int
			for i, w := range sides {
				if tt.setup != nil {
					tt.setup(t, w)
				}
				user := "00000000-0000-0000-0000-000000000000"
				if tt.user != "" {
					user = w.userID(t, tt.user)
				}
				if tt.prep != nil {
					tt.prep.do(t, w, user)
				}
				got[i] = tt.req.do(t, w, user)
				if tt.mailTo != "" {
					mails[i] = w.sent(t, tt.mailTo)
				}
			}
			real, em := got[0], got[1]
			t.Logf("Keycloak: %d %s %q %v", real.status, real.shape, real.message, real.users)
			require.Equal(t, real.status, em.status, "status")
			require.Equal(t, real.shape, em.shape, "the error body's keys")
			require.Equal(t, real.message, em.message, "the message")
			require.Equal(t, real.users, em.users, "the users listed")
			require.Equal(t, mails[0], mails[1], "the mails sent to %s", tt.mailTo)
		})
	}
}
