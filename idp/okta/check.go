package okta

import (
	"context"
	"net/http"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// checkUser is an id no Okta user has (Okta's are 00u and 17 more
// characters): the check's reset goes to nobody.
const checkUser = "00uresetqcheck0000000"

// Check verifies, without mailing anyone, what a reset needs: the
// credentials list users (okta.users.read), and the configured reset call
// for a user nobody is answers "not found" rather than "forbidden"
// (okta.users.manage, an admin role over users).
func (p *Provider) Check(ctx context.Context) (r idp.CheckReport, err error) {
	res, err := p.do(ctx, apiclient.Request{Op: idp.OpCheck, Method: http.MethodGet, URL: p.org + "/api/v1/users?limit=1"})
	if err != nil {
		return r, err
	}
	if res.Status != http.StatusOK {
		return r, p.classify(idp.OpCheck, res)
	}
	var list []user
	if err := res.Decode(&list); err != nil {
		return r, &idp.Error{Kind: idp.Configuration, Op: idp.OpCheck, Status: res.Status,
			Message: "listing users answered something that is not a list", Hint: "org_url must be the Okta org (https://acme.okta.com)"}
	}
	as := "an API token (SSWS)"
	if p.tokens != nil {
		as = "the service app " + p.cfg.ClientID + " (private_key_jwt)"
	}
	r.Lines = append(r.Lines, "users: readable at "+p.org+" with "+as)
	path := "/lifecycle/reset_password"
	if p.cfg.Method == MethodForgot {
		path = "/credentials/forgot_password"
	}
	res, err = p.do(ctx, apiclient.Request{Op: idp.OpCheck, Method: http.MethodPost,
		URL: p.org + "/api/v1/users/" + checkUser + path + "?sendEmail=true"})
	if err != nil {
		return r, err
	}
	if e := p.classify(idp.OpCheck, res); e.Kind != idp.UserNotFound {
		if e.Kind == idp.InvalidRequest {
			e.Kind = idp.Configuration
		}
		return r, e
	}
	r.Lines = append(r.Lines, "method "+p.cfg.Method+": "+path+" allowed")
	if p.cfg.Method == MethodReset {
		r.Warnings = append(r.Warnings, "method reset: a user's current password stops working as soon as the mail is "+
			"sent, until they set a new one (method forgot keeps it working)")
	}
	return r, nil
}
