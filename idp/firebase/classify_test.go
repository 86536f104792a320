package firebase

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// identityToolkit is Identity Toolkit's own error: 400, the code as the
// message, no status.
func identityToolkit(message string) string {
	return fmt.Sprintf(`{"error":{"code":400,"message":%q,"errors":[{"message":%q,"reason":"invalid","domain":"global"}]}}`, message, message)
}

// classifyRow is an answer and what it must be classified as.
type classifyRow struct {
	name   string
	p      *Provider
	status int
	header http.Header
	body   string
	kind   idp.Kind
	code   string
	hint   bool
}

// Every row of the table, and every answer that is not one of its codes.
func TestClassify(t *testing.T) {
	t.Parallel()
	admin := &Provider{cfg: Config{BaseURL: DefaultBaseURL}, tokens: &apiclient.TokenCache[string]{}}
	client := &Provider{cfg: Config{BaseURL: DefaultBaseURL}}
	rows := []classifyRow{
		{"EMAIL_NOT_FOUND", admin, 400, nil, identityToolkit("EMAIL_NOT_FOUND"), idp.UserNotFound, "EMAIL_NOT_FOUND", false},
		{"USER_NOT_FOUND", admin, 400, nil, identityToolkit("USER_NOT_FOUND"), idp.UserNotFound, "USER_NOT_FOUND", false},
		{"USER_DISABLED", admin, 400, nil, identityToolkit("USER_DISABLED"), idp.UserDisabled, "USER_DISABLED", false},
		{"INVALID_EMAIL", admin, 400, nil, identityToolkit("INVALID_EMAIL"), idp.InvalidRequest, "INVALID_EMAIL", false},
		{"MISSING_EMAIL", admin, 400, nil, identityToolkit("MISSING_EMAIL"), idp.InvalidRequest, "MISSING_EMAIL", false},
		{"MISSING_REQ_TYPE", admin, 400, nil, identityToolkit("MISSING_REQ_TYPE"), idp.InvalidRequest, "MISSING_REQ_TYPE", false},
		{"TOO_MANY_ATTEMPTS_TRY_LATER", admin, 400, nil, identityToolkit("TOO_MANY_ATTEMPTS_TRY_LATER : Too many attempts, try later."), idp.RateLimited, "TOO_MANY_ATTEMPTS_TRY_LATER", false},
		{"QUOTA_EXCEEDED", admin, 400, nil, identityToolkit("QUOTA_EXCEEDED : Exceeded quota for email lookup."), idp.RateLimited, "QUOTA_EXCEEDED", false},
		{"RESET_PASSWORD_EXCEED_LIMIT", admin, 400, nil, identityToolkit("RESET_PASSWORD_EXCEED_LIMIT"), idp.Transient, "RESET_PASSWORD_EXCEED_LIMIT", false},
		{"INVALID_API_KEY", client, 400, nil, identityToolkit("INVALID_API_KEY"), idp.Credentials, "INVALID_API_KEY", true},
		{"API_KEY_INVALID, in the details", client, 400, nil,
			`{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}`,
			idp.Credentials, "API_KEY_INVALID", true},
		{"API_KEY_SERVICE_BLOCKED", client, 403, nil,
			`{"error":{"code":403,"message":"Requests to this API are blocked.","status":"PERMISSION_DENIED","details":[{"reason":"API_KEY_SERVICE_BLOCKED"}]}}`,
			idp.Permission, "API_KEY_SERVICE_BLOCKED", true},
		{"INSUFFICIENT_PERMISSION", admin, 400, nil, identityToolkit("INSUFFICIENT_PERMISSION : Only authenticated requests can specify target_project_id."), idp.Permission, "INSUFFICIENT_PERMISSION", true},
		{"PERMISSION_DENIED, as a code", admin, 400, nil, identityToolkit("PERMISSION_DENIED"), idp.Permission, "PERMISSION_DENIED", true},
		{"CONFIGURATION_NOT_FOUND", admin, 400, nil, identityToolkit("CONFIGURATION_NOT_FOUND"), idp.Configuration, "CONFIGURATION_NOT_FOUND", true},
		{"PROJECT_NOT_FOUND", admin, 400, nil, identityToolkit("PROJECT_NOT_FOUND"), idp.Configuration, "PROJECT_NOT_FOUND", true},
		{"PROJECT_DISABLED", admin, 400, nil, identityToolkit("PROJECT_DISABLED"), idp.Configuration, "PROJECT_DISABLED", true},
		{"OPERATION_NOT_ALLOWED", admin, 400, nil, identityToolkit("OPERATION_NOT_ALLOWED"), idp.Configuration, "OPERATION_NOT_ALLOWED", true},
		{"INVALID_CONTINUE_URI", admin, 400, nil, identityToolkit("INVALID_CONTINUE_URI : ((expected an absolute URI with valid scheme and host))"), idp.Configuration, "INVALID_CONTINUE_URI", true},
		{"UNAUTHORIZED_DOMAIN", admin, 400, nil, identityToolkit("UNAUTHORIZED_DOMAIN : Domain not allowlisted by project"), idp.Configuration, "UNAUTHORIZED_DOMAIN", true},
		{"MISSING_CONTINUE_URI", admin, 400, nil, identityToolkit("MISSING_CONTINUE_URI"), idp.Configuration, "MISSING_CONTINUE_URI", true},
		{"401 UNAUTHENTICATED", admin, 401, nil,
			`{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`, idp.Credentials, "", true},
		{"403 to an admin", admin, 403, nil,
			`{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}`, idp.Permission, "", true},
		{"403 to a key", client, 403, nil,
			`{"error":{"code":403,"message":"The request is missing a valid API key.","status":"PERMISSION_DENIED"}}`, idp.Credentials, "", true},
		{"404 from Google", admin, 404, nil, `{"error":{"code":404,"message":"Not Found","status":"NOT_FOUND"}}`, idp.Configuration, "", true},
		{"404 from no Google", admin, 404, nil, "<html>Not Found</html>", idp.Configuration, "", true},
		{"429 with Retry-After", admin, 429, http.Header{"Retry-After": {"7"}}, `{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}`, idp.RateLimited, "", false},
		{"503", admin, 503, nil, `{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}`, idp.Transient, "", false},
		{"a 5xx with a table code stays transient", admin, 500, nil, identityToolkit("EMAIL_NOT_FOUND"), idp.Transient, "EMAIL_NOT_FOUND", false},
		{"a proxy's page", admin, 502, nil, "<html>Bad Gateway</html>", idp.Transient, "", false},
		{"a proxy's 504 to the reset", admin, 504, nil, "<html>Gateway Timeout</html>", idp.Unconfirmed, "", false},
		{"an unknown code fails the task", admin, 400, nil, identityToolkit("WEAK_PASSWORD"), idp.InvalidRequest, "WEAK_PASSWORD", false},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			e := r.p.classify(idp.OpReset, &apiclient.Response{Status: r.status, Header: r.header, Body: []byte(r.body)})
			require.Equal(t, r.kind, e.Kind, "%v", e)
			require.Equal(t, r.code, e.Code)
			require.Equal(t, r.hint, e.Hint != "", "hint: %q", e.Hint)
			require.NotEmpty(t, e.Message)
		})
	}
	// Every code of the table has its row.
	for c := range codes {
		require.Truef(t, slices.ContainsFunc(rows, func(r classifyRow) bool {
			return r.code == c
		}), "no row for %s", c)
	}
	// A Retry-After is kept.
	e := admin.classify(idp.OpReset, &apiclient.Response{Status: 429, Header: http.Header{"Retry-After": {"7"}}})
	require.Equal(t, 7, int(e.RetryAfter.Seconds()))
}

// A detail that may quote the user's address is not reported.
func TestClassifyLeavesAddressesOut(t *testing.T) {
	t.Parallel()
	p := &Provider{cfg: Config{BaseURL: DefaultBaseURL}}
	e := p.classify(idp.OpReset, &apiclient.Response{Status: 400, Body: []byte(identityToolkit("INVALID_EMAIL : alice@@example.com is invalid"))})
	require.NotContains(t, e.Error(), "alice")
	require.Equal(t, "INVALID_EMAIL", e.Message)
}
