package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/webhook"
)

const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
)

// schemas compiles the embedded JSON Schemas.
func schemas(t *testing.T) *jsonschema.Compiler {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, typ := range webhook.Types {
		f, err := webhook.Schemas.Open(webhook.SchemaFile(typ))
		require.NoError(t, err, typ)
		doc, err := jsonschema.UnmarshalJSON(f)
		require.NoError(t, err, typ)
		_ = c.AddResource(webhook.SchemaFile(typ), doc)
	}
	return c
}

// validateEvent checks a rendered event body against its type's schema.
func validateEvent(t *testing.T, c *jsonschema.Compiler, body []byte) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	require.NoError(t, err)
	typ := doc.(map[string]any)["type"].(string)
	sch, err := c.Compile(webhook.SchemaFile(typ))
	require.NoError(t, err)
	require.NoError(t, sch.Validate(doc), "%s", body)
}

func TestEveryEventValidatesAgainstItsSchema(t *testing.T) {
	t.Parallel()
	c := schemas(t)
	at := time.Date(2026, 11, 22, 10, 0, 3, 0, time.UTC)
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secretA, "whsec_"))
	for _, typ := range webhook.Types {
		ev, err := webhook.Sample(typ, at)
		require.NoError(t, err)
		for _, include := range []bool{true, false} {
			body, err := ev.Body(include, key)
			require.NoError(t, err)
			validateEvent(t, c, body)
		}
	}
	r := tasks.Result{TaskID: tasks.RandomTaskID(), Provider: "corp", Outcome: tasks.Skipped, Reason: tasks.ReasonUserDisabled, Attempts: 2, FinishedAt: at}
	for _, u := range []tasks.User{{Email: "a@example.com"}, {Username: "alice"}, {ID: "42"}} {
		body, err := webhook.ResetEvent(r, u, nil).Body(true, nil)
		require.NoError(t, err)
		validateEvent(t, c, body)
	}

	// The schemas say no to what is wrong.
	bad := []string{
		`{"type":"reset.succeeded","timestamp":"2026-11-22T10:00:03Z","data":{"task_id":"r-00000000000000000000000000000000","provider":"corp","user":{"email":"a@example.com"},"outcome":"failed","reason":"","attempts":1,"campaign":"","meta":{}}}`,
		`{"type":"reset.skipped","timestamp":"2026-11-22T10:00:03Z","data":{"task_id":"r-00000000000000000000000000000000","provider":"corp","user":{"email":"a@example.com"},"outcome":"skipped","reason":"","attempts":1,"campaign":"","meta":{}}}`,
		`{"type":"provider.halted","timestamp":"2026-11-22T10:00:03Z","data":{"provider":"corp","reason":"bored","hint":"","since":"2026-11-22T10:00:03Z"}}`,
	}
	for _, b := range bad {
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(b))
		require.NoError(t, err)
		sch, err := c.Compile(webhook.SchemaFile(doc.(map[string]any)["type"].(string)))
		require.NoError(t, err)
		require.Error(t, sch.Validate(doc), b)
	}
}

func TestTheDesignExampleShape(t *testing.T) {
	t.Parallel()
	r := tasks.Result{TaskID: tasks.RandomTaskID(), Provider: "corp", Outcome: tasks.Succeeded, Attempts: 1,
		FinishedAt: time.Date(2026, 11, 22, 10, 0, 3, 0, time.UTC), Requester: tasks.Requester{Actor: "api:helpdesk", Address: "10.0.0.4"}}
	body, err := webhook.ResetEvent(r, tasks.User{Email: "alice@example.com"}, map[string]string{"ticket": "HD-4411"}).Body(true, nil)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"reset.succeeded","timestamp":"2026-11-22T10:00:03Z",
		"data":{"task_id":"`+r.TaskID+`","provider":"corp","user":{"email":"alice@example.com"},
		"outcome":"succeeded","reason":"","attempts":1,"campaign":"","meta":{"ticket":"HD-4411"},
		"requester":{"actor":"api:helpdesk","address":"10.0.0.4"}}}`, string(body))
}

func TestWebhookIDIsStablePerEvent(t *testing.T) {
	t.Parallel()
	r := tasks.Result{TaskID: tasks.RandomTaskID(), Provider: "corp", Outcome: tasks.Succeeded, FinishedAt: time.Now()}
	a := webhook.ResetEvent(r, tasks.User{Email: "a@example.com"}, nil)
	r.FinishedAt = r.FinishedAt.Add(time.Minute) // re-emitted later: same event
	b := webhook.ResetEvent(r, tasks.User{Email: "a@example.com"}, nil)
	require.Equal(t, a.ID, b.ID)
	r.Outcome = tasks.Failed
	require.NotEqual(t, a.ID, webhook.ResetEvent(r, tasks.User{Email: "a@example.com"}, nil).ID)
	require.Regexp(t, `^msg_[0-9a-f]{32}$`, a.ID)
	since := time.Now()
	require.Equal(t, webhook.HaltEvent("corp", "x", "y", since).ID, webhook.HaltEvent("corp", "x", "z", since).ID)
	require.NotEqual(t, webhook.HaltEvent("corp", "x", "y", since).ID, webhook.HaltEvent("corp", "x", "y", since.Add(time.Second)).ID)
}

func TestSignaturesVerifyWithTheReferenceLibrary(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"reset.succeeded"}`)
	now := time.Now()
	sig, err := webhook.Sign([]string{secretA, secretB}, "msg_1", now, body)
	require.NoError(t, err)
	require.Len(t, strings.Fields(sig), 2, "one signature per secret")
	hdr := http.Header{}
	hdr.Set("webhook-id", "msg_1")
	hdr.Set("webhook-timestamp", strconvItoa(now.Unix()))
	hdr.Set("webhook-signature", sig)
	for _, s := range []string{secretA, secretB} {
		wh, err := standardwebhooks.NewWebhook(s)
		require.NoError(t, err)
		require.NoError(t, wh.Verify(body, hdr), "a receiver with either secret verifies (rotation)")
		require.ErrorIs(t, wh.Verify([]byte(`{"type":"reset.failed"}`), hdr), standardwebhooks.ErrNoMatchingSignature, "tampered body")
	}
	old := now.Add(-10 * time.Minute)
	stale, err := webhook.Sign([]string{secretA}, "msg_1", old, body)
	require.NoError(t, err)
	hdr.Set("webhook-timestamp", strconvItoa(old.Unix()))
	hdr.Set("webhook-signature", stale)
	wh, _ := standardwebhooks.NewWebhook(secretA)
	require.ErrorIs(t, wh.Verify(body, hdr), standardwebhooks.ErrMessageTooOld, "stale timestamp")
}

func strconvItoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestUserRefIsKeyedAndCaseInsensitive(t *testing.T) {
	t.Parallel()
	k1, k2 := []byte("key-one-key-one-key-one-"), []byte("key-two-key-two-key-two-")
	a := webhook.UserRef(k1, tasks.User{Email: "Alice@Example.com"})
	require.Equal(t, a, webhook.UserRef(k1, tasks.User{Email: "alice@example.com"}))
	require.NotEqual(t, a, webhook.UserRef(k2, tasks.User{Email: "alice@example.com"}), "keyed: another key, another ref")
	require.NotEqual(t, a, webhook.UserRef(k1, tasks.User{Username: "alice@example.com"}))
	require.NotContains(t, a, "alice")
}

func TestSecretsAndURLs(t *testing.T) {
	t.Parallel()
	got, err := webhook.ParseSecrets(secretA + "\n" + secretB + "\n")
	require.NoError(t, err)
	require.Equal(t, []string{secretA, secretB}, got)
	for _, bad := range []string{"", "hunter2-not-a-whsec", "whsec_!!!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		_, err := webhook.ParseSecrets(bad)
		require.Error(t, err, bad)
		if bad != "" {
			require.NotContains(t, err.Error(), strings.TrimPrefix(bad, "whsec_"), "the error does not quote the secret")
		}
	}

	for url, want := range map[string]string{
		"https://hooks.example.com/resetq":          "",
		"https://hooks.example.com:8443/x":          "",
		"http://hooks.example.com/resetq":           "plain http",
		"ftp://hooks.example.com/":                  "https://",
		"https://user:pw@hooks.example.com/":        "user name or password",
		"https://127.0.0.1/hook":                    "private, loopback or link-local",
		"https://10.1.2.3/hook":                     "private, loopback or link-local",
		"https://169.254.169.254/latest/meta-data/": "private, loopback or link-local",
		"https://[::1]:8080/hook":                   "private, loopback or link-local",
		"https://localhost:8443/hook":               "this machine",
		"not a url":                                 "not a URL",
	} {
		err := webhook.CheckURL(url, false)
		if want == "" {
			require.NoError(t, err, url)
			continue
		}
		require.ErrorContains(t, err, want, url)
	}
	require.NoError(t, webhook.CheckURL("http://127.0.0.1:8080/hook", true), "allowed with the flag")
}

func TestTheGuardRefusesSpecialAddressesAtDialTime(t *testing.T) {
	t.Parallel()
	for _, ip := range []string{"127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "169.254.169.254",
		"0.0.0.0", "224.0.0.1", "::1", "fc00::1", "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"} {
		err := webhook.CheckURL("https://"+netip.AddrPortFrom(netip.MustParseAddr(ip), 443).String()+"/", false)
		require.Error(t, err, ip)
	}
	require.NoError(t, webhook.CheckURL("https://93.184.216.34/", false), "a public address")

	// The dial checks the address DNS gave, whatever name led there: a
	// receiver is listening, and the guard still refuses to connect.
	var reached atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	defer recv.Close()
	client := webhook.NewClient(5*time.Second, time.Second, false)
	byName := strings.Replace(recv.URL, "127.0.0.1", "localhost", 1)
	for _, target := range []string{recv.URL, byName} {
		_, err := webhook.Post(context.Background(), client, target, []string{secretA}, "msg_1", []byte("{}"), "t")
		require.ErrorContains(t, err, "refused: the address is private", target)
	}
	require.Zero(t, reached.Load(), "no delivery reached the loopback receiver")
	res, err := webhook.Post(context.Background(), webhook.NewClient(5*time.Second, time.Second, true), byName,
		[]string{secretA}, "msg_1", []byte("{}"), "t")
	require.NoError(t, err, "allowed with the flag")
	require.Equal(t, 200, res.Status)
	require.EqualValues(t, 1, reached.Load())
}
