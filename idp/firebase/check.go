package firebase

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// Check verifies, without mailing anyone, what a reset needs: the send is
// made with no address, which Firebase refuses with MISSING_EMAIL once the
// credentials, the project and its permission pass (any other answer is
// what is wrong). As an admin it also looks up a uid no user has, and
// reads the project's email enumeration protection, which decides what an
// unknown address ends as.
func (p *Provider) Check(ctx context.Context) (r idp.CheckReport, err error) {
	res, err := p.call(ctx, idp.OpCheck, "sendOobCode", map[string]string{"requestType": "PASSWORD_RESET"})
	if err != nil {
		return r, err
	}
	if e := p.classify(idp.OpCheck, res); e.Code != "MISSING_EMAIL" {
		if e.Kind == idp.InvalidRequest || e.Kind == idp.UserNotFound {
			e.Kind = idp.Configuration
			e.Hint = "the send of a reset with no address should have been refused for the missing address; check base_url and project_id"
		}
		return r, e
	}
	as := "with the API key"
	if p.tokens != nil {
		as = "as an admin"
	}
	r.Lines = append(r.Lines, fmt.Sprintf("sendOobCode: reachable %s for project %s at %s", as, p.cfg.ProjectID, p.cfg.BaseURL))
	if p.tokens == nil {
		r.Warnings = append(r.Warnings, "API key only: users can be named by email only, and where the project has email "+
			"enumeration protection (the default since September 2023) an unknown address ends succeeded; "+
			"a service account with verify_user skips it as user_not_found")
		return r, nil
	}
	_, err = p.lookup(ctx, "localId", "resetq-check-no-such-user")
	switch e := idp.AsError(err); {
	case e == nil:
		return r, &idp.Error{Kind: idp.Configuration, Op: idp.OpCheck, Message: "a lookup of a uid no user has found one"}
	case e.Kind != idp.UserNotFound:
		return r, e
	}
	r.Lines = append(r.Lines, "accounts:lookup: users readable")
	protected, known := p.enumerationProtection(ctx)
	switch {
	case !known:
		r.Warnings = append(r.Warnings, "the project's configuration is not readable, so whether email enumeration "+
			"protection is on is unknown")
	case protected:
		r.Lines = append(r.Lines, "email enumeration protection: on (unknown addresses answer 200)")
	default:
		r.Lines = append(r.Lines, "email enumeration protection: off (unknown addresses answer EMAIL_NOT_FOUND)")
	}
	if !p.cfg.VerifyUser && (protected || !known) {
		r.Warnings = append(r.Warnings, "verify_user is off: with email enumeration protection an unknown address "+
			"ends succeeded; turn verify_user on to skip it as user_not_found")
	}
	return r, nil
}

// enumerationProtection reads the project's emailPrivacyConfig (admin v2
// API). known is false when the configuration cannot be read.
func (p *Provider) enumerationProtection(ctx context.Context) (on, known bool) {
	root := p.base[:len(p.base)-len("/v1")]
	res, err := apiclient.WithToken(ctx, p.client, p.tokens, func(t string) string { return t }, apiclient.Request{
		Op: idp.OpCheck, Method: http.MethodGet, URL: root + "/v2/projects/" + url.PathEscape(p.cfg.ProjectID) + "/config"})
	if err != nil || res.Status != http.StatusOK {
		return false, false
	}
	var cfg struct {
		EmailPrivacyConfig *struct {
			EnableImprovedEmailPrivacy bool `json:"enableImprovedEmailPrivacy"`
		} `json:"emailPrivacyConfig"`
	}
	if res.Decode(&cfg) != nil {
		return false, false
	}
	return cfg.EmailPrivacyConfig != nil && cfg.EmailPrivacyConfig.EnableImprovedEmailPrivacy, true
}
