package keycloak

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// body is the union of Keycloak's four error shapes (keycloak.md §7):
// {"error","error_description"} from OAuth and parse errors, {"error"}
// holding prose from JAX-RS exceptions, and {"errorMessage"} from
// ErrorResponse.error.
type body struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorMessage     string `json:"errorMessage"`
}

// parseBody reads an error body. Keycloak's own rule for clients is: take
// errorMessage, else error_description, else error. code is the OAuth error
// code when the body had one (an "error" next to a description).
func parseBody(b []byte) (code, msg string) {
	var e body
	if json.Unmarshal(b, &e) != nil {
		// Not JSON: a proxy's page. Keep a short, single-line excerpt.
		return "", apiclient.Excerpt(string(b), 120)
	}
	switch {
	case e.ErrorMessage != "":
		return "", apiclient.Excerpt(e.ErrorMessage, 500)
	case e.ErrorDescription != "":
		return apiclient.Excerpt(e.Error, 100), apiclient.Excerpt(e.ErrorDescription, 500)
	}
	return "", apiclient.Excerpt(e.Error, 500)
}

// smtpPrefix starts every message of a failed execute-actions email; newer
// versions append ": " and the cause.
const smtpPrefix = "Failed to send execute actions email"

// classify turns an admin API answer that is not 2xx into an *idp.Error.
// 401 never gets here: the caller refreshes the token first.
func (p *Provider) classify(op string, status int, h http.Header, b []byte) *idp.Error {
	e := apiclient.ErrorOf(op, status, h)
	e.Code, e.Message = parseBody(b)
	msg := e.Message
	switch {
	case e.Kind == idp.RateLimited:
	case e.Kind == idp.Transient:
		if cause, ok := strings.CutPrefix(msg, smtpPrefix); ok {
			p.classifyMail(e, strings.TrimPrefix(cause, ": "))
		}
	case status == http.StatusForbidden:
		e.Kind = idp.Permission
		e.Hint = p.permissionHint()
	case status == http.StatusNotFound:
		switch {
		case msg == "User not found":
			e.Kind = idp.UserNotFound
		case msg == "Realm not found.":
			e.Kind = idp.Configuration
			e.Hint = fmt.Sprintf("realm %q does not exist on this Keycloak; realm names are case-sensitive", p.cfg.Realm)
		default:
			// "Unable to find matching target resource method",
			// "RESTEASY003210: Could not find resource…", "HTTP 404 Not Found":
			// the path or a parameter is wrong for this server.
			e.Kind = idp.Configuration
			e.Hint = "Keycloak has no such admin endpoint under base_url " + p.cfg.BaseURL +
				": Keycloak 17+ serves without /auth, older versions (or --http-relative-path=/auth) with it"
		}
	case status == http.StatusBadRequest:
		switch msg {
		case "User email missing":
			e.Kind = idp.UserNoEmail
		case "User is disabled":
			e.Kind = idp.UserDisabled
		case "Provided invalid required actions":
			e.Kind = idp.InvalidAction
		case "Client id missing", "Client doesn't exist", "Client is not enabled", "Invalid redirect uri.":
			// The link settings come from the provider's configuration, so
			// every task would fail alike: halt rather than fail them all.
			e.Kind = idp.Configuration
			e.Hint = fmt.Sprintf("Keycloak rejected the link settings (link.client_id %q, link.redirect_uri %q): %s",
				p.cfg.LinkClientID, p.cfg.RedirectURI, msg)
		}
	}
	return e
}

// classifyMail reads the cause Keycloak gives for an execute-actions email
// it could not send (keycloak-real.md §1; DefaultEmailSenderProvider and
// FreeMarkerEmailTemplateProvider in Keycloak's source).
func (p *Provider) classifyMail(e *idp.Error, cause string) {
	realm := p.cfg.Realm
	switch {
	case strings.HasPrefix(cause, "Invalid sender address"), strings.HasPrefix(cause, "No sender address configured"):
		e.Kind = idp.Configuration
		e.Hint = fmt.Sprintf("realm %q has no usable mail sender: in the Keycloak admin console open Realm settings → Email, "+
			"set the From address and the SMTP host, and use Test connection", realm)
	case strings.HasPrefix(cause, "Invalid address"):
		// The message quotes the user's address: keep it out of the error.
		e.Kind = idp.RecipientRefused
		e.Message = smtpPrefix + ": Invalid address [the user's address]: Keycloak will not send to an address with a " +
			"non-ASCII local part unless the realm allows UTF-8 mail (Realm settings → Email → Allow UTF-8, with an SMTP server that supports SMTPUTF8)"
	case strings.HasPrefix(cause, "Failed to template email"),
		strings.HasPrefix(cause, "Failed to load email theme"),
		strings.HasPrefix(cause, "Error embedding email resources"):
		e.Kind = idp.Configuration
		e.Hint = fmt.Sprintf("Keycloak cannot render its execute-actions email for realm %q (%s): the realm's email theme "+
			"(Realm settings → Themes → Email theme) is broken or missing a template; Keycloak's log has the template error", realm, cause)
	case strings.HasPrefix(cause, "Invalid email address format"), strings.HasPrefix(cause, "Failed to encode email address"),
		strings.HasPrefix(cause, "MessagingException occurred"):
		e.Kind = idp.Configuration
		e.Hint = fmt.Sprintf("Keycloak cannot build the mail for realm %q (%s): check the From, From display name and "+
			"Reply-To settings under Realm settings → Email", realm, cause)
	case strings.HasPrefix(cause, "No email address configured for the user"):
		e.Kind = idp.UserNoEmail
	default:
		// "Error when attempting to send the email to the server" (or, on
		// Keycloak ≤ 24, no cause at all): the relay is down, refuses
		// Keycloak's login, throttles, or refuses this one recipient; only
		// Keycloak's log says which.
		e.Kind = idp.MailFailed
		e.Hint = fmt.Sprintf("Keycloak cannot hand realm %q's mail to its SMTP server, for user after user: the relay is "+
			"unreachable, refuses Keycloak's login or TLS, or throttles (Keycloak's log names the cause). Fix Realm settings → "+
			"Email (Test connection) or the relay", realm)
	}
}

func (p *Provider) permissionHint() string {
	holder := "realm-management"
	if p.tokenRealm() != p.cfg.Realm {
		holder = p.cfg.Realm + "-realm (in realm " + p.tokenRealm() + ")"
	}
	who := "the service account of client " + p.cfg.ClientID
	if p.cfg.Grant == GrantPassword {
		who = "admin user " + p.cfg.Username
	}
	return fmt.Sprintf("%s needs the manage-users role of client %s for realm %q", who, holder, p.cfg.Realm)
}

// tokenError turns a failed token request into an *idp.Error.
func (p *Provider) tokenError(err error) *idp.Error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		var ie *idp.Error
		if errors.As(err, &ie) {
			return ie
		}
		if errors.Is(err, errNoAccessToken) || strings.HasPrefix(err.Error(), "oauth2: cannot parse") {
			return &idp.Error{Kind: idp.Configuration, Op: idp.OpToken, Message: "the token endpoint did not answer with a token",
				Hint: "check base_url: " + p.tokenURL() + " answered 2xx with something that is not an OAuth token"}
		}
		return apiclient.NetworkError(idp.OpToken, err)
	}
	status := re.Response.StatusCode
	scrub := func(s string) string { return string(apiclient.Scrub([]byte(s), p.cfg.ClientSecret, p.cfg.Password)) }
	code, desc := scrub(re.ErrorCode), scrub(re.ErrorDescription)
	if code == "" && desc == "" {
		code, desc = parseBody(apiclient.Scrub(re.Body, p.cfg.ClientSecret, p.cfg.Password))
		if code == "" {
			code, desc = desc, ""
		}
	}
	e := &idp.Error{Kind: idp.Credentials, Op: idp.OpToken, Status: status, Code: code, Message: desc,
		RetryAfter: apiclient.RetryAfter(re.Response.Header, time.Now())}
	client, realm := p.cfg.ClientID, p.tokenRealm()
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable && e.RetryAfter > 0:
		e.Kind = idp.RateLimited
	case status >= 500:
		e.Kind = idp.Transient
	case status == http.StatusNotFound:
		e.Kind = idp.Configuration
		e.Hint = fmt.Sprintf("the token endpoint %s answered 404: check base_url (Keycloak 17+ has no /auth prefix, "+
			"older versions need it) and auth.realm %q", p.tokenURL(), realm)
	case code == "invalid_client":
		e.Hint = fmt.Sprintf("client %q is unknown or disabled in realm %q: check auth.client_id and auth.realm", client, realm)
	case code == "unauthorized_client" && strings.Contains(desc, "Invalid client credentials"):
		e.Hint = fmt.Sprintf("Keycloak rejected the secret of client %q in realm %q: check auth.client_secret "+
			"(Clients → %s → Credentials)", client, realm, client)
	case code == "unauthorized_client" && strings.Contains(desc, "not enabled to retrieve service account"):
		e.Kind = idp.Configuration
		e.Hint = fmt.Sprintf("client %q has no service account: turn on \"Service accounts roles\" in its settings", client)
	case code == "unauthorized_client" && strings.Contains(desc, "Public client"):
		e.Kind = idp.Configuration
		e.Hint = fmt.Sprintf("client %q is public: turn on \"Client authentication\" so it can use client_credentials", client)
	case code == "unauthorized_client":
		e.Kind = idp.Configuration
		e.Hint = fmt.Sprintf("client %q may not use the %s grant: %s", client, p.cfg.Grant, desc)
	case code == "invalid_grant" && strings.Contains(desc, "not fully set up"):
		e.Kind = idp.Configuration
		e.Hint = fmt.Sprintf("admin user %q has pending required actions (often VERIFY_PROFILE): log in once as that user, "+
			"or better, use a client_credentials service account", p.cfg.Username)
	case code == "invalid_grant":
		e.Hint = fmt.Sprintf("Keycloak rejected admin user %q's password in realm %q (a brute-force lockout looks the same): "+
			"check auth.username and auth.password", p.cfg.Username, realm)
	case code == "invalid_request" && strings.Contains(desc, "disabled"):
		// "User 'service-account-resetq' disabled" (Keycloak 26, 401).
		e.Kind = idp.Configuration
		e.Hint = fmt.Sprintf("the service account of client %q is disabled in realm %q (%s): enable user "+
			"service-account-%s under Users, or turn \"Service accounts roles\" off and on again in the client", client, realm, desc, client)
	case code == "invalid_request", code == "unsupported_grant_type":
		e.Kind = idp.Configuration
		e.Hint = "Keycloak refused the token request itself (" + desc + "): is base_url really a Keycloak server?"
	default:
		e.Kind = idp.Configuration
		e.Hint = fmt.Sprintf("the token endpoint %s answered %d: check base_url and auth.realm", p.tokenURL(), status)
	}
	return e
}
