package keycloak

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/resetq/resetq/idp"
)

// Check verifies, without sending any email, that the provider can work:
// the token endpoint accepts the credentials, the realm exists under
// base_url, and the caller holds manage-users there. Keycloak's user list
// carries access.manage for the caller, which tells view-users from
// manage-users; an empty list beside a non-zero count means query-users only.
func (p *Provider) Check(ctx context.Context) (idp.CheckReport, error) {
	var r idp.CheckReport
	start := time.Now()
	tok, err := p.tokens.Token(ctx)
	if err != nil {
		return r, p.tokenError(err)
	}
	life := time.Duration(tok.ExpiresIn) * time.Second
	r.Lines = append(r.Lines, fmt.Sprintf("token: %s grant for client %q from realm %q at %s, valid for %s (took %s)",
		p.cfg.Grant, p.cfg.ClientID, p.cfg.TokenRealm, p.tokenURL(), life, time.Since(start).Round(time.Millisecond)))
	if p.cfg.Grant == GrantPassword {
		r.Warnings = append(r.Warnings, "the password grant counts as a user login: brute-force detection can lock the "+
			"admin out, and a profile change can block it; a client_credentials service account avoids both")
	}

	q := url.Values{"briefRepresentation": {"true"}, "max": {"1"}}
	users, err := p.listUsers(ctx, idp.OpCheck, q)
	if err != nil {
		return r, err
	}
	r.Lines = append(r.Lines, fmt.Sprintf("realm: %q found at %s", p.cfg.Realm, p.adminURL("", nil)))
	switch {
	case len(users) == 1 && users[0].Access["manage"]:
		r.Lines = append(r.Lines, "role: manage-users (execute-actions-email allowed)")
	case len(users) == 1:
		return r, &idp.Error{Kind: idp.Permission, Op: idp.OpCheck, Status: http.StatusOK,
			Message: "the caller can view users but not manage them", Hint: p.permissionHint()}
	default:
		cresp, err := p.admin(ctx, idp.OpCheck, http.MethodGet, p.adminURL("/users/count", nil), nil)
		if err != nil {
			return r, err
		}
		var n int
		if cresp.Status != http.StatusOK || cresp.Decode(&n) != nil {
			return r, p.classify(idp.OpCheck, cresp.Status, cresp.Header, cresp.Body)
		}
		if n > 0 {
			return r, &idp.Error{Kind: idp.Permission, Op: idp.OpCheck, Status: http.StatusOK,
				Message: fmt.Sprintf("the caller sees none of the realm's %d users (query-users only)", n), Hint: p.permissionHint()}
		}
		r.Warnings = append(r.Warnings, "the realm has no users yet, so manage-users could not be confirmed")
	}
	r.Lines = append(r.Lines, "actions: "+strings.Join(p.cfg.Actions, ", "))
	if ok, why := p.eventsUsable(ctx); ok {
		r.Lines = append(r.Lines, "lost answers: confirmed through the realm's admin events")
	} else {
		r.Warnings = append(r.Warnings, "a reset whose answer is lost ends succeeded/unconfirmed, not sent again: "+why)
	}
	if p.cfg.ResetTimeout < DefaultResetTimeout {
		r.Warnings = append(r.Warnings, fmt.Sprintf("reset_timeout %s is shorter than Keycloak's worst case for one mail at its "+
			"default SMTP timeouts (%s): behind a slow relay resetq stops waiting for mail Keycloak still sends",
			p.cfg.ResetTimeout, DefaultResetTimeout))
	}
	r.Warnings = append(r.Warnings, "SMTP cannot be checked without sending mail: make sure Realm settings → Email works "+
		"(Test connection); without it resetq halts on the first reset")
	return r, nil
}
