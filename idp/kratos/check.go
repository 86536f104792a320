package kratos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/resetq/resetq/idp"
)

// Check verifies, without mailing anyone, what a reset needs: the public
// API starts a recovery flow (recovery is enabled, and the flow names the
// method the server uses, which must be the configured one when one is
// set), and, when configured, the admin API lists identities with the
// given token. The flow it starts expires unused.
func (p *Provider) Check(ctx context.Context) (r idp.CheckReport, err error) {
	flow, err := p.newFlow(ctx, idp.OpCheck)
	if err != nil {
		return r, err
	}
	// The method, submitted without an address: Kratos asks for the
	// address if it has the method, and says it has no strategy if not.
	// Nothing is mailed either way.
	body, _ := json.Marshal(map[string]string{"method": p.cfg.Method})
	probe, err := p.client.Do(ctx, apiRequest(idp.OpCheck, http.MethodPost, p.public+"/self-service/recovery?flow="+url.QueryEscape(flow.ID), body))
	if err != nil {
		return r, err
	}
	if e := p.classify(idp.OpCheck, public, probe); e.Kind != idp.InvalidRequest {
		return r, e
	}
	r.Lines = append(r.Lines, fmt.Sprintf("recovery: enabled at %s, method %q available (its pages use %q)", p.public, p.cfg.Method, flow.Active))
	if p.cfg.Method == MethodCode {
		r.Warnings = append(r.Warnings, "method code: Kratos' stock recovery_code mail gives the user a code and no way "+
			"to reach the flow it belongs to; its template must link to your recovery page with "+
			"?flow={{ .TransientPayload.flow_id }}, or use method link")
	}
	if p.admin == "" {
		r.Warnings = append(r.Warnings, "no admin_url: users can be named by email only, and an unknown address "+
			"ends succeeded (Kratos answers alike for every address and mails nothing to an unknown one)")
		return r, nil
	}
	res, err := p.adminCall(ctx, idp.OpCheck, "/admin/identities?page_size=1")
	if err != nil {
		return r, err
	}
	if res.Status != http.StatusOK {
		return r, p.classify(idp.OpCheck, admin, res)
	}
	var list []identity
	if err := res.Decode(&list); err != nil {
		return r, &idp.Error{Kind: idp.Configuration, Op: idp.OpCheck, Status: res.Status,
			Message: "listing identities answered something that is not a list",
			Hint:    "admin_url must be Kratos' admin API (where /admin/identities is served)"}
	}
	r.Lines = append(r.Lines, "admin API: identities readable at "+p.admin)
	if !p.cfg.VerifyUser {
		r.Warnings = append(r.Warnings, "verify_user is off: an address no identity has ends succeeded, "+
			"as Kratos answers alike for every address")
	}
	return r, nil
}
