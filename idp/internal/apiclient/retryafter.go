package apiclient

import (
	"cmp"
	"net/http"
	"strconv"
	"time"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/internal/retryafter"
)

// RetryAfter reads a Retry-After header, given as seconds or as an HTTP
// date, bounded by a day. It returns 0 when the header is absent or
// unreadable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	return retryafter.Parse(h.Get("Retry-After"), now)
}

// WaitAsked is the wait an answer asks for: its Retry-After or its
// rate limit's reset (RateLimitReset), whichever is later.
func WaitAsked(h http.Header, now time.Time) time.Duration {
	return max(RetryAfter(h, now), RateLimitReset(h, now))
}

// ErrorOf starts the error of an answer a provider did not expect: its
// status, the wait it asks for (WaitAsked), and the kind every IdP's
// answers of that status share: RateLimited for 429 and for a 503 that
// asks for a wait, Unconfirmed for a reset a proxy stopped waiting for
// (504: the IdP may well have sent it), Transient for any other 5xx. The
// rest start as InvalidRequest, for the provider to read its body.
func ErrorOf(op string, status int, h http.Header) *idp.Error {
	e := &idp.Error{Kind: idp.InvalidRequest, Op: op, Status: status, RetryAfter: WaitAsked(h, time.Now())}
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable && e.RetryAfter > 0:
		e.Kind = idp.RateLimited
	case status == http.StatusGatewayTimeout && op == idp.OpReset:
		e.Kind = idp.Unconfirmed
	case status >= 500:
		e.Kind = idp.Transient
	}
	return e
}

// RateLimitReset reads X-RateLimit-Reset (Keygen's spelling) or
// X-Rate-Limit-Reset (Okta's), given as epoch seconds, as the wait until
// then. It returns 0 when the header is absent, unreadable or past.
func RateLimitReset(h http.Header, now time.Time) time.Duration {
	v, err := strconv.ParseInt(cmp.Or(h.Get("X-RateLimit-Reset"), h.Get("X-Rate-Limit-Reset")), 10, 64)
	if err != nil {
		return 0
	}
	return max(time.Unix(v, 0).Sub(now), 0)
}
