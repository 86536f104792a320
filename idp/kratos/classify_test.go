package kratos_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/kratos"
)

// Bodies as the real server answers them (v1.3.1; see
// internal/realidp/kratos_e2e_test.go, which pins them down).
const (
	flowOK       = `{"id":"f1","type":"api","state":"choose_method","active":"code","ui":{"nodes":[]}}`
	sentEmail    = `{"id":"f1","type":"api","state":"sent_email","active":"code","ui":{"messages":[{"id":1060003,"type":"info","text":"An email containing a recovery code has been sent"}]}}`
	badAddress   = `{"id":"f1","state":"choose_method","active":"code","ui":{"nodes":[{"attributes":{"name":"email"},"messages":[{"id":4000001,"type":"error","text":"\"not-an-address\" is not valid \"email\""}]}]}}`
	noStrategy   = `{"id":"f1","state":"choose_method","active":"default","ui":{"messages":[{"id":4010005,"type":"error","text":"Could not find a strategy to recover your account with."}]}}`
	flowGone     = `{"error":{"code":404,"status":"Not Found","reason":"The recovery request could not be found. Please restart the flow.","message":"The requested resource could not be found"}}`
	flowExpired  = `{"error":{"id":"self_service_flow_expired","code":410,"status":"Gone","reason":"The recovery flow has expired."}}`
	methodOff    = `{"error":{"code":404,"status":"Not Found","reason":"This endpoint was disabled by system administrator. Please check your url or contact the system administrator to enable it.","message":"The requested resource could not be found"}}`
	disabled     = `{"error":{"code":400,"status":"Bad Request","reason":"Recovery is not allowed because it was disabled.","message":"The request was malformed or contained invalid parameters"}}`
	noIdentity   = `{"error":{"code":404,"status":"Not Found","message":"Unable to locate the resource"}}`
	identityBob  = `{"id":"b0b","state":"active","recovery_addresses":[{"value":"bob@example.org","via":"email"}]}`
	inactiveBob  = `{"id":"b0b","state":"inactive","recovery_addresses":[{"value":"bob@example.org","via":"email"}]}`
	noAddressBob = `{"id":"b0b","state":"active","recovery_addresses":[]}`
)

// reply is one canned answer.
type reply struct {
	status int
	body   string
	header http.Header
}

// fake answers the public and admin routes from a table: "init" (GET
// /self-service/recovery/api), "submit", "identity" (by id) and "list".
func fake(t *testing.T, replies map[string]reply) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var key string
		switch {
		case r.URL.Path == "/self-service/recovery/api":
			key = "init"
		case r.URL.Path == "/self-service/recovery":
			key = "submit"
		case r.URL.Path == "/admin/identities":
			key = "list"
		case strings.HasPrefix(r.URL.Path, "/admin/identities/"):
			key = "identity"
		}
		a, ok := replies[key]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		for k, v := range a.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(s.Close)
	return s
}

func TestClassificationOfEachAnswer(t *testing.T) {
	t.Parallel()
	ok := map[string]reply{"init": {200, flowOK, nil}, "submit": {200, sentEmail, nil}}
	with := func(key string, r reply) map[string]reply {
		out := map[string]reply{"init": ok["init"], "submit": ok["submit"]}
		out[key] = r
		return out
	}
	byEmail := idp.UserRef{Email: "bob@example.org"}
	byID := idp.UserRef{ID: "b0b"}
	for name, c := range map[string]struct {
		replies map[string]reply
		user    idp.UserRef
		verify  bool
		want    idp.Kind // -1: no error
		retry   time.Duration
	}{
		"sent":                          {ok, byEmail, false, -1, 0},
		"sent by id":                    {with("identity", reply{200, identityBob, nil}), byID, false, -1, 0},
		"an unknown id":                 {with("identity", reply{404, noIdentity, nil}), byID, false, idp.UserNotFound, 0},
		"an inactive identity":          {with("identity", reply{200, inactiveBob, nil}), byID, false, idp.UserDisabled, 0},
		"no recovery address":           {with("identity", reply{200, noAddressBob, nil}), byID, false, idp.UserNoEmail, 0},
		"verified: nobody":              {with("list", reply{200, `[]`, nil}), byEmail, true, idp.UserNotFound, 0},
		"verified: two":                 {with("list", reply{200, "[" + identityBob + "," + identityBob + "]", nil}), byEmail, true, idp.AmbiguousUser, 0},
		"verified: one":                 {with("list", reply{200, "[" + identityBob + "]", nil}), byEmail, true, -1, 0},
		"a refused address":             {with("submit", reply{400, badAddress, nil}), byEmail, false, idp.InvalidRequest, 0},
		"no strategy for the method":    {with("submit", reply{400, noStrategy, nil}), byEmail, false, idp.Configuration, 0},
		"recovery turned off":           {with("init", reply{400, disabled, nil}), byEmail, false, idp.Configuration, 0},
		"the method turned off":         {with("submit", reply{404, methodOff, nil}), byEmail, false, idp.Configuration, 0},
		"the flow was lost":             {with("submit", reply{404, flowGone, nil}), byEmail, false, idp.Transient, 0},
		"the flow expired":              {with("submit", reply{410, flowExpired, nil}), byEmail, false, idp.Transient, 0},
		"not Kratos":                    {with("init", reply{404, "", nil}), byEmail, false, idp.Configuration, 0},
		"a 5xx":                         {with("submit", reply{502, "<html>bad gateway</html>", nil}), byEmail, false, idp.Transient, 0},
		"a proxy's 429":                 {with("submit", reply{429, "", http.Header{"Retry-After": {"7"}}}), byEmail, false, idp.RateLimited, 7 * time.Second},
		"a 200 that is not sent_email":  {with("submit", reply{200, flowOK, nil}), byEmail, false, idp.Configuration, 0},
		"a flow that is not a flow":     {with("init", reply{200, `<html></html>`, nil}), byEmail, false, idp.Configuration, 0},
		"admin: key rejected":           {with("list", reply{401, `{"error":{"code":401}}`, nil}), byEmail, true, idp.Credentials, 0},
		"admin: key may not":            {with("list", reply{403, `{"error":{"code":403}}`, nil}), byEmail, true, idp.Permission, 0},
		"admin: not Kratos":             {with("identity", reply{404, "", nil}), byID, false, idp.Configuration, 0},
		"public refuses (a login wall)": {with("init", reply{401, "", nil}), byEmail, false, idp.Configuration, 0},
		"a username":                    {ok, idp.UserRef{Username: "bob"}, false, idp.InvalidRequest, 0},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := fake(t, c.replies)
			p, err := kratos.New(kratos.Config{PublicURL: s.URL, AdminURL: s.URL, VerifyUser: c.verify, Timeout: 5 * time.Second})
			require.NoError(t, err)
			err = p.Reset(t.Context(), idp.Request{TaskID: "t", User: c.user})
			if c.want < 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			e := idp.AsError(err)
			require.Equal(t, c.want, e.Kind, "%v", err)
			require.Equal(t, c.retry, e.RetryAfter)
			require.NotContains(t, err.Error(), "not-an-address", "the address is not quoted")
			if c.want == idp.Configuration || c.want == idp.Credentials || c.want == idp.Permission {
				require.NotEmpty(t, e.Hint, "a halt says what to fix")
			}
		})
	}
}

func TestLinkUnlessCodeIsAskedForAndTheFlowGoesAlong(t *testing.T) {
	t.Parallel()
	var got []string
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte(flowOK))
			return
		}
		var b strings.Builder
		buf := make([]byte, 512)
		n, _ := r.Body.Read(buf)
		b.Write(buf[:n])
		got = append(got, b.String())
		_, _ = w.Write([]byte(sentEmail))
	}))
	t.Cleanup(s.Close)
	for _, method := range []string{"", kratos.MethodCode} {
		p, err := kratos.New(kratos.Config{PublicURL: s.URL, Method: method})
		require.NoError(t, err)
		require.NoError(t, p.Reset(t.Context(), idp.Request{TaskID: "t", User: idp.UserRef{Email: "a@example.org"}}))
	}
	require.Len(t, got, 2)
	require.Contains(t, got[0], `"method":"link"`, "link by default")
	require.Contains(t, got[1], `"method":"code"`, "the configured one")
	for _, b := range got {
		require.Contains(t, b, `"transient_payload":{"flow_id":"f1"}`, "the flow, for a code mail's template")
	}
}

func TestNewRefusesWhatCannotWork(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]kratos.Config{
		"no public URL":             {},
		"not a URL":                 {PublicURL: "auth.example.com"},
		"an unknown method":         {PublicURL: "https://auth.example.com", Method: "sms"},
		"verify_user without admin": {PublicURL: "https://auth.example.com", VerifyUser: true},
		"an admin URL with a query": {PublicURL: "https://auth.example.com", AdminURL: "https://admin.example.com/?x=1"},
	} {
		_, err := kratos.New(cfg)
		require.Error(t, err, name)
	}
}

// A lost answer to the submission may mean a sent mail (unconfirmed); a
// lost answer to starting the flow means nothing was sent (transient).
func TestOnlyALostSubmissionIsUnconfirmed(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		hang string
		want idp.Kind
	}{
		"starting the flow": {http.MethodGet, idp.Transient},
		"the submission":    {http.MethodPost, idp.Unconfirmed},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == c.hang {
					<-release
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(flowOK))
			}))
			t.Cleanup(s.Close)
			t.Cleanup(func() { close(release) })
			p, err := kratos.New(kratos.Config{PublicURL: s.URL, Timeout: 100 * time.Millisecond})
			require.NoError(t, err)
			err = p.Reset(t.Context(), idp.Request{TaskID: "t", User: idp.UserRef{Email: "a@example.org"}})
			require.Equal(t, c.want, idp.AsError(err).Kind, "%v", err)
		})
	}
}

// Without an admin API a user named by id cannot be found: that request
// fails, and resets by email go on (no halt).
func TestAnIDWithoutAnAdminAPIFailsThatResetOnly(t *testing.T) {
	t.Parallel()
	s := fake(t, map[string]reply{"init": {200, flowOK, nil}, "submit": {200, sentEmail, nil}})
	p, err := kratos.New(kratos.Config{PublicURL: s.URL})
	require.NoError(t, err)
	err = p.Reset(t.Context(), idp.Request{TaskID: "t", User: idp.UserRef{ID: "b0b"}})
	require.Equal(t, idp.InvalidRequest, idp.AsError(err).Kind, "%v", err)
	require.Contains(t, err.Error(), "admin_url")
	require.NoError(t, p.Reset(t.Context(), idp.Request{TaskID: "t", User: idp.UserRef{Email: "bob@example.org"}}))
}
