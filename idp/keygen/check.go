package keygen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/resetq/resetq/idp"
)

// Check verifies, without requesting any reset, that the token works and
// whose it is, that the account is reachable under base_url, and that the
// server accepts the API version.
func (p *Provider) Check(ctx context.Context) (idp.CheckReport, error) {
	var r idp.CheckReport
	res, err := p.call(ctx, idp.OpCheck, http.MethodGet, p.accountURL("/me"), nil)
	if err != nil {
		return r, err
	}
	if res.status != http.StatusOK {
		return r, p.classify(idp.OpCheck, res)
	}
	var me struct {
		Data struct {
			ID         string `json:"id"`
			Type       string `json:"type"`
			Attributes struct {
				Email string `json:"email"`
				Role  string `json:"role"`
				Name  string `json:"name"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(res.body, &me); err != nil || me.Data.ID == "" {
		return r, &idp.Error{Kind: idp.Configuration, Op: idp.OpCheck, Status: res.status,
			Message: "GET /me did not answer with a bearer", Hint: p.base + " does not look like Keygen's API"}
	}
	source := "the configured token"
	if p.minted != nil {
		source = "a token minted for " + p.cfg.Email
	}
	switch me.Data.Type {
	case "users":
		r.Lines = append(r.Lines, fmt.Sprintf("token: %s belongs to user %s (role %s)", source, me.Data.Attributes.Email, me.Data.Attributes.Role))
		if me.Data.Attributes.Role != "admin" {
			r.Warnings = append(r.Warnings, "the token's user is not an admin: verify_user may not be able to read other users")
		}
	case "products":
		r.Lines = append(r.Lines, fmt.Sprintf("token: %s is a product token of %q", source, me.Data.Attributes.Name))
	default:
		r.Lines = append(r.Lines, fmt.Sprintf("token: %s belongs to a %s", source, me.Data.Type))
	}
	account := res.header.Get("Keygen-Account")
	if account == "" {
		account = p.cfg.Account
	}
	r.Lines = append(r.Lines, fmt.Sprintf("account: %s reachable at %s", account, p.accountURL("")))
	version := res.header.Get("Keygen-Version")
	if version == "" {
		version = p.cfg.APIVersion + " (not echoed)"
	}
	r.Lines = append(r.Lines, "API version: "+version+" accepted")
	if p.cfg.Deliver {
		r.Lines = append(r.Lines, "deliver: true (Keygen sends its own reset email)")
	} else {
		r.Lines = append(r.Lines, "deliver: false (Keygen sends no email; your user.password-reset webhook must)")
	}
	if !p.cfg.VerifyUser {
		r.Warnings = append(r.Warnings, "Keygen answers 204 for unknown emails on purpose: set verify_user: true to have them "+
			"reported as skipped (user_not_found) instead of succeeded")
	}
	return r, nil
}
