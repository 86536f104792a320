// Package retryafter reads the Retry-After header, which an IdP and a
// webhook receiver alike use to say when to come back.
package retryafter

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Max bounds a wait: a larger one (or seconds that would overflow a
// time.Duration) is read as Max.
const Max = 24 * time.Hour

// Parse reads a Retry-After value, given as seconds or as an HTTP date,
// as the wait from now. It returns 0 when v is empty, unreadable, not
// positive or past.
func Parse(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return min(time.Duration(min(s, int64(Max/time.Second)))*time.Second, Max)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), Max)
	}
	return 0
}
