package okta

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

func oktaBody(code, summary string) string {
	return fmt.Sprintf(`{"errorCode":%q,"errorSummary":%q,"errorLink":%q,"errorId":"oae123","errorCauses":[]}`, code, summary, code)
}

// classifyRow is an answer and what it must be classified as.
type classifyRow struct {
	name   string
	status int
	body   string
	kind   idp.Kind
	code   string
	hint   bool
}

// Every row of the table, and the answers that are not Okta's.
func TestClassify(t *testing.T) {
	t.Parallel()
	p := &Provider{org: "https://acme.okta.com"}
	rows := []classifyRow{
		{"E0000007 not found", 404, oktaBody("E0000007", "Not found: Resource not found: alice@example.com (User)"), idp.UserNotFound, "E0000007", false},
		{"E0000038 status", 403, oktaBody("E0000038", "This operation is not allowed in the user's current status."), idp.UserDisabled, "E0000038", false},
		{"E0000034 no self-service", 403, oktaBody("E0000034", "Forgot password not allowed on specified user."), idp.InvalidRequest, "E0000034", false},
		{"E0000001 validation", 400, oktaBody("E0000001", "Api validation failed"), idp.InvalidRequest, "E0000001", false},
		{"E0000047 rate limit", 429, oktaBody("E0000047", "API call exceeded rate limit due to too many requests."), idp.RateLimited, "E0000047", false},
		{"E0000011 token", 401, oktaBody("E0000011", "Invalid token provided"), idp.Credentials, "E0000011", true},
		{"E0000004 authentication", 401, oktaBody("E0000004", "Authentication failed"), idp.Credentials, "E0000004", true},
		{"E0000005 session", 403, oktaBody("E0000005", "Invalid session"), idp.Credentials, "E0000005", true},
		{"E0000006 permission", 403, oktaBody("E0000006", "You do not have permission to perform the requested action"), idp.Permission, "E0000006", true},
		{"E0000015 feature", 403, oktaBody("E0000015", "You do not have permission to access the feature you are requesting"), idp.Permission, "E0000015", true},
		{"E0000022 API off", 403, oktaBody("E0000022", "The endpoint does not support the provided HTTP method"), idp.Configuration, "E0000022", true},
		{"an unknown code on 403", 403, oktaBody("E0000999", "Something"), idp.Permission, "E0000999", true},
		{"an unknown code on 401", 401, oktaBody("E0000998", "Something"), idp.Credentials, "E0000998", true},
		{"an unknown code on 400", 400, oktaBody("E0000997", "Something"), idp.InvalidRequest, "E0000997", false},
		{"500 with a code", 500, oktaBody("E0000009", "Internal Server Error"), idp.Transient, "E0000009", false},
		{"a 5xx with a table code stays transient", 503, oktaBody("E0000007", "x"), idp.Transient, "E0000007", false},
		{"401 with no body", 401, "", idp.Credentials, "", true},
		{"404 from no Okta", 404, "<html>Not Found</html>", idp.Configuration, "", true},
		{"a proxy's 502", 502, "<html>Bad Gateway</html>", idp.Transient, "", false},
		{"a proxy's 504 to the reset", 504, "<html>Gateway Timeout</html>", idp.Unconfirmed, "", false},
		{"a 504 with a table code stays unconfirmed", 504, oktaBody("E0000006", "x"), idp.Unconfirmed, "E0000006", false},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			e := p.classify(idp.OpReset, &apiclient.Response{Status: r.status, Body: []byte(r.body)})
			require.Equal(t, r.kind, e.Kind, "%v", e)
			require.Equal(t, r.code, e.Code)
			require.Equal(t, r.hint, e.Hint != "", "hint: %q", e.Hint)
			require.NotContains(t, e.Error(), "alice@example.com", "the summary can name the user")
		})
	}
	for c := range codes {
		found := false
		for _, r := range rows {
			found = found || r.code == c
		}
		require.Truef(t, found, "no row for %s", c)
	}
}

// Okta sends its rate-limit headers on every answer: only a 429 waits for
// them.
func TestRateLimitResetOnlyOn429(t *testing.T) {
	t.Parallel()
	p := &Provider{org: "https://acme.okta.com"}
	h := http.Header{"X-Rate-Limit-Reset": {strconv.FormatInt(time.Now().Add(40*time.Second).Unix(), 10)}}
	e := p.classify(idp.OpReset, &apiclient.Response{Status: 429, Header: h, Body: []byte(oktaBody("E0000047", "x"))})
	require.Greater(t, e.RetryAfter, 30*time.Second)
	e = p.classify(idp.OpReset, &apiclient.Response{Status: 503, Header: h, Body: []byte("")})
	require.Zero(t, e.RetryAfter)
	e = p.classify(idp.OpReset, &apiclient.Response{Status: 404, Header: h, Body: []byte(oktaBody("E0000007", "x"))})
	require.Zero(t, e.RetryAfter)
}
