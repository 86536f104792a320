package keygen

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// errorDoc is a JSON:API error document.
type errorDoc struct {
	Errors []struct {
		Title  string            `json:"title"`
		Detail string            `json:"detail"`
		Code   string            `json:"code"`
		Source map[string]string `json:"source"`
	} `json:"errors"`
}

// classify turns an answer that is not 2xx into an *idp.Error. Keygen's own
// rule for clients: read errors[0].code first, then detail.
func (p *Provider) classify(op string, res *apiclient.Response) *idp.Error {
	var doc errorDoc
	_ = res.Decode(&doc)
	e := apiclient.ErrorOf(op, res.Status, res.Header)
	if len(doc.Errors) > 0 {
		e.Code, e.Message = apiclient.Excerpt(doc.Errors[0].Code, 100), apiclient.Excerpt(doc.Errors[0].Detail, 500)
	} else {
		e.Message = apiclient.Excerpt(string(res.Body), 120)
	}
	who := "the configured token"
	if p.minted != nil {
		who = "the token minted for " + p.cfg.Email
	}
	switch {
	case e.Kind != idp.InvalidRequest: // rate-limited or transient, as every IdP's
	case res.Status == http.StatusUnauthorized && op == idp.OpToken:
		e.Kind = idp.Credentials
		switch e.Code {
		case "OTP_REQUIRED", "OTP_INVALID", "SSO_REQUIRED", "PASSWORD_NOT_SUPPORTED":
			e.Kind = idp.Configuration
			e.Hint = fmt.Sprintf("Keygen will not mint a token for %s with a password (%s): create an admin or product token "+
				"in the dashboard and give it as token (or token_file)", p.cfg.Email, e.Code)
		default:
			e.Hint = fmt.Sprintf("Keygen rejected the email and password of %s (%s): check auth.email and auth.password", p.cfg.Email, e.Code)
		}
	case res.Status == http.StatusUnauthorized:
		e.Kind = idp.Credentials
		e.Hint = fmt.Sprintf("Keygen rejects %s (%s): create a new admin or product token and update token (or token_file)", who, e.Code)
		if e.Code == "TOKEN_FORMAT_INVALID" {
			e.Hint = "token holds a token's ID, not its secret: copy the token value Keygen showed when it was created"
		}
	case res.Status == http.StatusBadRequest && e.Code == "INVALID_API_VERSION":
		e.Kind = idp.Configuration
		e.Hint = fmt.Sprintf("this Keygen server does not support API version %q: set keygen_version to one it does (1.8 for current servers)", p.cfg.APIVersion)
	case res.Status == http.StatusBadRequest && e.Code == "ENVIRONMENT_INVALID":
		e.Kind = idp.Configuration
		e.Hint = fmt.Sprintf("account %q has no environment %q: set environment to an environment's code or id, or remove it", p.cfg.Account, p.cfg.Environment)
	case res.Status == http.StatusBadRequest && e.Code == "ENVIRONMENT_NOT_SUPPORTED":
		e.Kind = idp.Configuration
		e.Hint = "this Keygen server has no environments (they are an Enterprise Edition feature): remove environment"
	case res.Status == http.StatusBadRequest && e.Code == "MIME_TYPE_INVALID":
		e.Kind = idp.Configuration
		e.Hint = "Keygen refused the request itself (" + e.Code + "): a proxy in front of " + p.base + " may rewrite headers"
	case res.Status == http.StatusForbidden && res.Header.Get("X-RateLimit-Window") == "blacklist":
		e.Kind = idp.Configuration
		e.Hint = "Keygen has blocked this machine's IP address"
	case res.Status == http.StatusForbidden:
		e.Kind = idp.Permission
		e.Hint = fmt.Sprintf("%s may not do this (%s): use an admin token, or a product token allowed to read users", who, e.Code)
	case res.Status == http.StatusNotFound && strings.HasPrefix(e.Message, "The requested account"):
		e.Kind = idp.Configuration
		e.Hint = fmt.Sprintf("account %q does not exist on %s: check account (an id or a slug) and base_url", p.cfg.Account, p.base)
	case res.Status == http.StatusNotFound && op == idp.OpLookup && strings.HasPrefix(e.Message, "The requested user"):
		e.Kind = idp.UserNotFound
		e.Message = "no user with that email" // Keygen's detail quotes the address
	case res.Status == http.StatusNotFound:
		e.Kind = idp.Configuration
		e.Hint = fmt.Sprintf("%s has no such route: is base_url a Keygen server (the API lives under /v1)?", p.base)
	}
	return e
}
