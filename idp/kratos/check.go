package kratos

import (
	"context"
	"fmt"
	"net/http"

	"github.com/resetq/resetq/idp"
)

// Check verifies, without mailing anyone, what a reset needs: the public
// API starts a recovery flow (recovery is enabled, and the flow names the
// method the server uses, which must be the configured one when one is
// set), and, when configured, the admin API lists identities with the
// given token. The flow it starts expires unused.
func (p *Provider) Check(ctx context.Context) (idp.CheckReport, error) {
	var r idp.CheckReport
	flow, err := p.newFlow(ctx, idp.OpCheck)
	if err != nil {
		return r, err
	}
	r.Lines = append(r.Lines, fmt.Sprintf("recovery: enabled at %s, method %q", p.public, flow.Active))
	if p.cfg.Method != "" && flow.Active != p.cfg.Method {
		return r, &idp.Error{Kind: idp.Configuration, Op: idp.OpCheck,
			Message: fmt.Sprintf("Kratos recovers accounts by %q, not %q", flow.Active, p.cfg.Method),
			Hint:    fmt.Sprintf("set method to %q (or leave it out), or change selfservice.flows.recovery.use", flow.Active)}
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
		return r, p.classify(idp.OpCheck, res)
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
