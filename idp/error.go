package idp

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind says what went wrong, in terms that do not depend on the IdP.
type Kind int

// The kinds. The worker maps each to retry, skip, fail or halt.
const (
	// Transient: network errors, timeouts, 5xx, mail relay hiccups. Retry.
	Transient Kind = iota
	// RateLimited: the IdP or a proxy asked us to slow down (429, 503 with
	// Retry-After). Retry after RetryAfter; not a failure.
	RateLimited
	// UserNotFound: no user matches the reference. Skip.
	UserNotFound
	// AmbiguousUser: more than one user matches. Skip.
	AmbiguousUser
	// UserDisabled: the user exists but is disabled. Skip.
	UserDisabled
	// UserNoEmail: the user has no email address to send to. Skip.
	UserNoEmail
	// InvalidAction: the IdP does not know a requested action. Fail.
	InvalidAction
	// InvalidRequest: the IdP rejected this request as malformed. Fail.
	InvalidRequest
	// Credentials: the IdP rejected resetq's own credentials (wrong secret,
	// unknown client, expired static token, 401 after a fresh token). Halt.
	Credentials
	// Permission: the credentials work but lack a role or scope. Halt.
	Permission
	// Configuration: the IdP is set up in a way no retry can fix (no SMTP,
	// wrong realm, wrong base path, bad link settings). Halt.
	Configuration
	// Unconfirmed: the reset request reached the IdP but its answer never
	// came back (a timeout, a cut connection, a proxy's 504), and the IdP
	// may well have carried it out: Keycloak finishes sending the mail
	// after the client gives up. Sending it again would send a second
	// mail, so the task ends succeeded, marked unconfirmed.
	Unconfirmed
	// MailFailed: the IdP could not hand the mail to its relay, and does
	// not say why: the relay is down, refuses the IdP's login, throttles,
	// or refuses this one recipient. Many in a row halt the provider; the
	// same user refused again while others' mail goes out is skipped.
	MailFailed
	// RecipientRefused: the IdP refuses to send to this user's address
	// (Keycloak: a non-ASCII local part on a realm without UTF-8 mail).
	// Skip.
	RecipientRefused
)

var kindNames = [...]string{
	Transient:        "transient",
	RateLimited:      "rate_limited",
	UserNotFound:     "user_not_found",
	AmbiguousUser:    "ambiguous_user",
	UserDisabled:     "user_disabled",
	UserNoEmail:      "no_email",
	InvalidAction:    "invalid_action",
	InvalidRequest:   "invalid_request",
	Credentials:      "credentials_rejected",
	Permission:       "permission_denied",
	Configuration:    "configuration",
	Unconfirmed:      "unconfirmed",
	MailFailed:       "mail_failed",
	RecipientRefused: "recipient_refused",
}

// String returns the kind's snake_case name, which is also the reason label
// resetq reports for it.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Operations name the IdP calls a provider makes. They are metric label
// values.
const (
	OpToken  = "token"
	OpLookup = "lookup"
	OpReset  = "reset"
	OpCheck  = "check"
	// OpConfirm reads what the IdP recorded, to settle a reset whose
	// answer was lost.
	OpConfirm = "confirm"
)

// Error is an IdP failure, carrying what the IdP said. It never holds a
// secret, a token, a reset link or a request URL.
type Error struct {
	Kind Kind
	// Op is the operation that failed (OpToken, OpLookup, OpReset, OpCheck).
	Op string
	// Status is the HTTP status, or 0 for network errors.
	Status int
	// Code is the IdP's machine-readable error code, if it sent one
	// ("unauthorized_client", "TOKEN_INVALID").
	Code string
	// Message is the IdP's human-readable error text.
	Message string
	// RetryAfter is how long the IdP asked us to wait, if it did.
	RetryAfter time.Duration
	// Hint tells an operator what to fix, for kinds that halt a provider.
	Hint string
	// Err is the underlying error, for network failures.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	fmt.Fprintf(&b, " [%s]", e.Kind)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// AsError finds the *Error in err's chain. A non-nil error without one is
// reported as Transient, because an error the provider did not understand is
// safer retried than dropped.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: Transient, Err: err}
}
