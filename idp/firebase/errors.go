package firebase

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// googleError is Google's error document. Identity Toolkit puts its own
// code in message, alone or followed by " : " and a detail.
type googleError struct {
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Reason string `json:"reason"`
		} `json:"details"`
	} `json:"error"`
}

var codeRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`)

// code splits a message into Identity Toolkit's code and its detail; a
// message that starts with no code (Google's front end's prose) gives ""
// and the message.
func code(message string) (c, detail string) {
	c, detail, _ = strings.Cut(message, " : ")
	if !codeRE.MatchString(strings.TrimSpace(c)) {
		return "", message
	}
	return strings.TrimSpace(c), detail
}

// rule is what one Identity Toolkit code means.
type rule struct {
	kind idp.Kind
	hint string
}

// codes are the Identity Toolkit codes a reset or a lookup can answer.
// A code not listed keeps the kind its status gives (4xx fails the task,
// 429 and 5xx are retried).
var codes = map[string]rule{
	"EMAIL_NOT_FOUND": {kind: idp.UserNotFound},
	"USER_NOT_FOUND":  {kind: idp.UserNotFound},
	"USER_DISABLED":   {kind: idp.UserDisabled},
	"INVALID_EMAIL":   {kind: idp.InvalidRequest},
	"MISSING_EMAIL":   {kind: idp.InvalidRequest},
	// Firebase's own throttles: the project's (retried after a wait), and
	// the one on reset mails to one address, which lifts within the hour.
	"TOO_MANY_ATTEMPTS_TRY_LATER": {kind: idp.RateLimited},
	"QUOTA_EXCEEDED":              {kind: idp.RateLimited},
	"RESET_PASSWORD_EXCEED_LIMIT": {kind: idp.Transient},
	"INVALID_API_KEY":             {idp.Credentials, "the api_key is not this project's Web API key (Project settings → General)"},
	"API_KEY_INVALID":             {idp.Credentials, "the api_key is not this project's Web API key (Project settings → General)"},
	"API_KEY_SERVICE_BLOCKED":     {idp.Permission, "the api_key's API restrictions leave out the Identity Toolkit API"},
	"INSUFFICIENT_PERMISSION":     {idp.Permission, "the service account needs the role Firebase Authentication Admin (roles/firebaseauth.admin) on the project"},
	"PERMISSION_DENIED":           {idp.Permission, "the service account needs the role Firebase Authentication Admin (roles/firebaseauth.admin) on the project"},
	"CONFIGURATION_NOT_FOUND":     {idp.Configuration, "the project has no Firebase Authentication: enable it, with the Email/Password provider"},
	"PROJECT_NOT_FOUND":           {idp.Configuration, "project_id names no project these credentials can see"},
	"PROJECT_DISABLED":            {idp.Configuration, "the project is disabled"},
	"OPERATION_NOT_ALLOWED":       {idp.Configuration, "the project's Email/Password sign-in provider is off: enable it in Authentication → Sign-in method"},
	"INVALID_CONTINUE_URI":        {idp.Configuration, "continue_url is not a valid URL"},
	"UNAUTHORIZED_DOMAIN":         {idp.Configuration, "continue_url's domain is not authorised: add it in Authentication → Settings → Authorized domains"},
	"MISSING_CONTINUE_URI":        {idp.Configuration, "continue_url is required by this project"},
	"MISSING_REQ_TYPE":            {kind: idp.InvalidRequest},
}

// classify turns an answer that is not 200 into an *idp.Error.
func (p *Provider) classify(op string, res *apiclient.Response) *idp.Error {
	e := apiclient.ErrorOf(op, res.Status, res.Header)
	var g googleError
	if res.Decode(&g) != nil || g.Error == nil {
		switch {
		case res.Status == http.StatusNotFound, res.Status == http.StatusMethodNotAllowed:
			e.Kind = idp.Configuration
			e.Message = fmt.Sprintf("answered %d with no Google error", res.Status)
			e.Hint = "nothing answers like the Identity Toolkit API at " + p.cfg.BaseURL + ": check base_url (an emulator's ends in /identitytoolkit.googleapis.com)"
		case len(res.Body) > 0:
			e.Message = apiclient.Excerpt(string(res.Body), 120) // a proxy's page
		default:
			e.Message = fmt.Sprintf("answered %d", res.Status)
		}
		return e
	}
	c, detail := code(g.Error.Message)
	for _, d := range g.Error.Details {
		if c == "" && codeRE.MatchString(d.Reason) {
			c = d.Reason
		}
	}
	e.Code = c
	switch {
	case strings.Contains(detail, "@"):
		// A detail that may quote the address is left out.
		e.Message = c
	case c != "" && strings.TrimSpace(detail) == "":
		e.Message = c
	default:
		e.Message = apiclient.Excerpt(strings.TrimSpace(g.Error.Message), 200)
	}
	if r, ok := codes[c]; ok && e.Kind != idp.Transient && e.Kind != idp.Unconfirmed {
		e.Kind, e.Hint = r.kind, r.hint
		return e
	}
	switch {
	case e.Kind != idp.InvalidRequest: // rate-limited or transient
	case res.Status == http.StatusUnauthorized:
		e.Kind = idp.Credentials
		e.Hint = "Identity Toolkit refuses resetq's token: is the service account's key revoked?"
	case res.Status == http.StatusForbidden && p.tokens == nil:
		e.Kind = idp.Credentials
		e.Hint = "Identity Toolkit refuses the api_key: is it this project's Web API key, and not restricted to other APIs?"
	case res.Status == http.StatusForbidden:
		e.Kind = idp.Permission
		e.Hint = codes["PERMISSION_DENIED"].hint
	case res.Status == http.StatusNotFound:
		e.Kind = idp.Configuration
		e.Hint = codes["PROJECT_NOT_FOUND"].hint
	}
	return e
}
