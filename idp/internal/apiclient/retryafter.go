package apiclient

import (
	"net/http"
	"strconv"
	"time"

	"github.com/resetq/resetq/internal/retryafter"
)

// RetryAfter reads a Retry-After header, given as seconds or as an HTTP
// date, bounded by a day. It returns 0 when the header is absent or
// unreadable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	return retryafter.Parse(h.Get("Retry-After"), now)
}

// WaitAsked is the wait an answer asks for: its Retry-After or its
// X-RateLimit-Reset, whichever is later.
func WaitAsked(h http.Header, now time.Time) time.Duration {
	return max(RetryAfter(h, now), RateLimitReset(h, now))
}

// RateLimitReset reads X-RateLimit-Reset, given as epoch seconds, as the
// wait until then. It returns 0 when the header is absent, unreadable or
// past.
func RateLimitReset(h http.Header, now time.Time) time.Duration {
	v, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil {
		return 0
	}
	return max(time.Unix(v, 0).Sub(now), 0)
}
