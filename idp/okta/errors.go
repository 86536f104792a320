package okta

import (
	"fmt"
	"net/http"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// oktaError is Okta's error document.
type oktaError struct {
	ErrorCode    string `json:"errorCode"`
	ErrorSummary string `json:"errorSummary"`
	ErrorID      string `json:"errorId"`
}

// rule is what one Okta error code means.
type rule struct {
	kind idp.Kind
	hint string
}

// codes are the E0000… codes a lookup or a reset can answer. A code not
// listed keeps the kind its status gives.
var codes = map[string]rule{
	"E0000007": {kind: idp.UserNotFound},   // Not found: Resource not found
	"E0000038": {kind: idp.UserDisabled},   // This operation is not allowed in the user's current status
	"E0000034": {kind: idp.InvalidRequest}, // Forgot password not allowed on specified user
	"E0000001": {kind: idp.InvalidRequest}, // Api validation failed
	"E0000047": {kind: idp.RateLimited},    // API call exceeded rate limit
	"E0000011": {idp.Credentials, "Okta refuses the API token (revoked, expired after 30 days unused, or its admin deactivated): create a new one"},
	"E0000004": {idp.Credentials, "Okta refuses resetq's credentials"},
	"E0000006": {idp.Permission, "the token's admin (or the service app's admin role) may not manage users: give it the Help Desk or Group admin role over them, or Org admin"},
	"E0000015": {idp.Permission, "the org lacks the feature, or the token may not use it"},
	"E0000005": {idp.Credentials, "Okta calls the session invalid: use an API token or a service app, not a session"},
	"E0000022": {idp.Configuration, "the API is not enabled for this org"},
}

// classify turns an answer that is not 200 into an *idp.Error.
func (p *Provider) classify(op string, res *apiclient.Response) *idp.Error {
	// Okta's rate-limit headers ride on every answer: only a 429's reset
	// is a wait asked for.
	h := res.Header
	if res.Status != http.StatusTooManyRequests && h != nil {
		h = h.Clone()
		h.Del("X-Rate-Limit-Reset")
	}
	e := apiclient.ErrorOf(op, res.Status, h)
	var o oktaError
	if res.Decode(&o) != nil || o.ErrorCode == "" {
		switch {
		case res.Status == http.StatusNotFound, res.Status == http.StatusMethodNotAllowed:
			e.Kind = idp.Configuration
			e.Message = fmt.Sprintf("answered %d with no Okta error", res.Status)
			e.Hint = "nothing answers like Okta's management API at " + p.org + ": org_url must be the org (https://acme.okta.com)"
		case res.Status == http.StatusUnauthorized:
			e.Kind, e.Message = idp.Credentials, "answered 401"
			e.Hint = "Okta refuses resetq's credentials"
		case len(res.Body) > 0:
			e.Message = apiclient.Excerpt(string(res.Body), 120) // a proxy's page
		default:
			e.Message = fmt.Sprintf("answered %d", res.Status)
		}
		return e
	}
	e.Code = apiclient.Excerpt(o.ErrorCode, 20)
	// The summary can name the user ("Not found: Resource not found:
	// alice@example.com (User)"): the code and the error id stand for it.
	e.Message = "Okta refused"
	if o.ErrorID != "" {
		e.Message += " (errorId " + apiclient.Excerpt(o.ErrorID, 40) + ")"
	}
	r, ok := codes[o.ErrorCode]
	switch {
	case e.Kind == idp.Transient, e.Kind == idp.Unconfirmed:
	case ok:
		e.Kind, e.Hint = r.kind, r.hint
	case res.Status == http.StatusUnauthorized:
		e.Kind = idp.Credentials
		e.Hint = "Okta refuses resetq's credentials"
	case res.Status == http.StatusForbidden:
		e.Kind = idp.Permission
		e.Hint = codes["E0000006"].hint
	}
	if e.Kind == idp.UserNotFound && op == idp.OpReset {
		// The user went between the lookup and the reset.
		e.Message += ": the user is gone"
	}
	return e
}
