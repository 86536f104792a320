package kratostest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/kratos/kratostest"
)

// kratos is a Kratos to put the same questions to: the emulator here, the
// real server in compare_e2e_test.go. Its recovery pages use code, and the
// link method is enabled beside it.
type kratos struct {
	public, admin string
	addIdentity   func(t *testing.T, email string) (id string)
	// mails returns the texts of the mails sent to email, oldest first.
	mails func(t *testing.T, email string) []string
}

// answer is a status and a decoded JSON body (nil when not JSON).
type answer struct {
	status int
	body   map[string]any
	raw    string
	header http.Header
}

func ask(t *testing.T, method, url string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	a := answer{status: res.StatusCode, raw: string(b), header: res.Header}
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		a.body = m
	}
	return a
}

func (k kratos) newFlow(t *testing.T) string {
	t.Helper()
	a := ask(t, http.MethodGet, k.public+"/self-service/recovery/api", nil)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Equal(t, "choose_method", a.body["state"])
	require.Equal(t, "code", a.body["active"], "the flow names the method the pages use")
	return a.body["id"].(string)
}

func (k kratos) submit(t *testing.T, flow string, body map[string]any) answer {
	t.Helper()
	return ask(t, http.MethodPost, k.public+"/self-service/recovery?flow="+flow, body)
}

// messageIDs are the ids of a flow's error messages, form and fields.
func messageIDs(a answer) []int {
	var ids []int
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if id, ok := v["id"].(float64); ok && v["type"] == "error" {
				ids = append(ids, int(id))
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(a.body["ui"])
	return ids
}

var (
	linkRE = regexp.MustCompile(`http://\S+/self-service/recovery\?\S+`)
	codeRE = regexp.MustCompile(`\b\d{6}\b`)
)

// behaves asks k what the provider relies on, and what the user does with
// the mail.
func behaves(t *testing.T, k kratos) {
	alice := k.addIdentity(t, "alice@example.org")

	// A link, for a known address; following it signs the user in and
	// sends them to the settings flow.
	flow := k.newFlow(t)
	a := k.submit(t, flow, map[string]any{"method": "link", "email": "alice@example.org", "transient_payload": map[string]string{"flow_id": flow}})
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Equal(t, "sent_email", a.body["state"])
	var mails []string
	require.Eventually(t, func() bool { mails = k.mails(t, "alice@example.org"); return len(mails) == 1 }, 30*time.Second, 50*time.Millisecond)
	link := linkRE.FindString(mails[0])
	require.NotEmpty(t, link, mails[0])
	a = ask(t, http.MethodGet, strings.ReplaceAll(link, "&amp;", "&"), nil)
	require.Equal(t, http.StatusSeeOther, a.status, a.raw)
	require.Contains(t, a.header.Get("Location"), "/settings?flow=")
	require.Contains(t, strings.Join(a.header.Values("Set-Cookie"), "\n"), "ory_kratos_session=", "signed in")

	// The same 200 for an address no identity has, and no mail.
	flow = k.newFlow(t)
	a = k.submit(t, flow, map[string]any{"method": "link", "email": "nobody@example.org"})
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Equal(t, "sent_email", a.body["state"])

	// A code, entered in its flow: on to the settings flow.
	flow = k.newFlow(t)
	a = k.submit(t, flow, map[string]any{"method": "code", "email": "alice@example.org"})
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Eventually(t, func() bool { mails = k.mails(t, "alice@example.org"); return len(mails) == 2 }, 30*time.Second, 50*time.Millisecond)
	code := codeRE.FindString(mails[1])
	require.NotEmpty(t, code, mails[1])
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	a = k.submit(t, flow, map[string]any{"method": "code", "code": wrong})
	require.Equal(t, http.StatusOK, a.status, "a wrong code is 200, its message on the form: %s", a.raw)
	require.Equal(t, "sent_email", a.body["state"])
	require.Contains(t, messageIDs(a), 4060006, "a wrong code")
	a = k.submit(t, flow, map[string]any{"method": "code", "code": code})
	require.Equal(t, http.StatusUnprocessableEntity, a.status, a.raw)
	require.Equal(t, "browser_location_change_required", a.body["error"].(map[string]any)["id"])
	require.Contains(t, a.body["redirect_browser_to"], "/settings?flow=")

	// What Check and the classification read.
	flow = k.newFlow(t)
	a = k.submit(t, flow, map[string]any{"method": "link"})
	require.Equal(t, http.StatusBadRequest, a.status, a.raw)
	require.Contains(t, messageIDs(a), 4000002, "the address is asked for: the method exists")
	a = k.submit(t, flow, map[string]any{"method": "link", "email": "not-an-address"})
	require.Equal(t, http.StatusBadRequest, a.status, a.raw)
	require.Contains(t, messageIDs(a), 4000001)
	a = k.submit(t, flow, map[string]any{"method": "sms", "email": "alice@example.org"})
	require.Equal(t, http.StatusBadRequest, a.status, a.raw)
	require.Contains(t, messageIDs(a), 4010005, "no strategy for the method")
	a = k.submit(t, "8f1e3c52-6a0b-4f64-9d8e-2b1c7e5a9f30", map[string]any{"method": "link", "email": "alice@example.org"})
	require.Equal(t, http.StatusNotFound, a.status, a.raw)
	require.Contains(t, a.body["error"].(map[string]any)["reason"], "restart the flow")
	a = k.submit(t, "00000000-0000-0000-0000-000000000000", map[string]any{"method": "link", "email": "alice@example.org"})
	require.Equal(t, http.StatusBadRequest, a.status, a.raw)

	// The admin API.
	a = ask(t, http.MethodGet, k.admin+"/admin/identities/"+alice, nil)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Equal(t, "active", a.body["state"])
	require.Contains(t, a.raw, `"value":"alice@example.org"`)
	require.Contains(t, a.raw, `"via":"email"`)
	for _, id := range []string{"8f1e3c52-6a0b-4f64-9d8e-2b1c7e5a9f30", "not-a-uuid"} {
		a = ask(t, http.MethodGet, k.admin+"/admin/identities/"+id, nil)
		require.Equal(t, http.StatusNotFound, a.status, a.raw)
		require.Equal(t, "Unable to locate the resource", a.body["error"].(map[string]any)["message"])
	}
	a = ask(t, http.MethodGet, k.admin+"/admin/identities?credentials_identifier=nobody@example.org", nil)
	require.Equal(t, http.StatusOK, a.status)
	require.JSONEq(t, `[]`, a.raw)
	a = ask(t, http.MethodGet, k.admin+"/admin/identities?credentials_identifier=alice@example.org", nil)
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.raw, alice)
	a = ask(t, http.MethodGet, k.public+"/no/such/route", nil)
	require.Equal(t, http.StatusNotFound, a.status)
	require.Nil(t, a.body, "not a Kratos error document: %s", a.raw)
}

func TestTheEmulatorBehavesAsTheRealServer(t *testing.T) {
	t.Parallel()
	s := kratostest.NewServer()
	t.Cleanup(s.Close)
	behaves(t, kratos{
		public: s.URL(), admin: s.URL(),
		addIdentity: func(t *testing.T, email string) string { return s.AddIdentity(email).ID },
		mails: func(t *testing.T, email string) []string {
			var out []string
			for _, m := range s.Messages() {
				if m.Recipient == email {
					out = append(out, "Hi, "+m.Link+m.Code)
				}
			}
			return out
		},
	})
}
