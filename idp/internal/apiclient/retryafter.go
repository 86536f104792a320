package apiclient

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryAfter reads a Retry-After header, given as seconds or as an HTTP
// date. It returns 0 when the header is absent or unreadable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
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
