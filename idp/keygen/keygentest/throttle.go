package keygentest

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// window is one rack-attack throttle bucket: a fixed window aligned to the
// epoch, counting every matching request, throttled ones included.
type window struct {
	start int64
	count int
}

// throttle is one rack-attack rule that applies to a request.
type throttle struct {
	name   string // the key's last segment: rstpwd, auth, mutpwd, 1s, 1m
	key    string
	limit  int
	period time.Duration
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// throttles lists the rules of config/initializers/rack_attack.rb that
// apply to a request. ip is the client address; account the path segment.
func (s *Server) throttlesFor(ep Endpoint, r *http.Request, account, ip, email, userSeg string) []throttle {
	var out []throttle
	scope := account + ":" + ip
	if s.maxRPS > 0 || s.maxRPM > 0 {
		tok := sha(r.Header.Get("Authorization"))
		if s.maxRPS > 0 {
			out = append(out, throttle{"1s", "req/ip/1s:" + scope + ":" + tok, s.maxRPS, time.Second})
		}
		if s.maxRPM > 0 {
			out = append(out, throttle{"1m", "req/ip/1m:" + scope + ":" + tok, s.maxRPM, time.Minute})
		}
	}
	switch ep {
	case EndpointPasswords:
		if email != "" {
			out = append(out, throttle{"rstpwd", "req/ip/rstpwd:" + scope + ":" + sha(strings.ToLower(email)), 5, time.Hour})
		}
	case EndpointTokens:
		if email != "" {
			out = append(out, throttle{"auth", "req/ip/auth:" + scope + ":" + strings.ToLower(email), 5, time.Minute})
		}
	case EndpointResetPassword:
		out = append(out, throttle{"mutpwd", "req/ip/mutpwd:" + scope + ":" + userSeg, 5, 10 * time.Minute})
	}
	return out
}

// check counts the request in every rule and returns the first rule it
// broke, with that window's state. The caller holds the lock.
func (s *Server) check(rules []throttle) (broke *throttle, count int, reset time.Time) {
	now := s.Now()
	for i := range rules {
		t := rules[i]
		start := now.Unix() / int64(t.period/time.Second) * int64(t.period/time.Second)
		w := s.throttles[t.key]
		if w == nil || w.start != start {
			w = &window{start: start}
			s.throttles[t.key] = w
		}
		w.count++
		if w.count > t.limit && broke == nil {
			broke, count, reset = &rules[i], w.count, time.Unix(start, 0).Add(t.period)
		}
	}
	return broke, count, reset
}

// writeThrottled is rack-attack's throttled_responder.
func (s *Server) writeThrottled(w http.ResponseWriter, t *throttle, count int, reset time.Time) {
	h := w.Header()
	h.Set("X-RateLimit-Window", t.name)
	h.Set("X-RateLimit-Count", strconv.Itoa(count))
	h.Set("X-RateLimit-Limit", strconv.Itoa(t.limit))
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("Retry-After", strconv.Itoa(int((reset.Sub(s.Now())+time.Second-1)/time.Second)))
	writeErrors(w, http.StatusTooManyRequests, apiError{Title: "Too many requests",
		Detail: "Throttle limit has been reached for your IP address. Please slow down. See https://keygen.sh/docs/api/rate-limiting/ for more info.",
		Code:   "TOO_MANY_REQUESTS"})
}
