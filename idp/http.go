package idp

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ParseRetryAfter reads a Retry-After header, given as seconds or as an HTTP
// date. It returns 0 when the header is absent or unreadable.
func ParseRetryAfter(h http.Header, now time.Time) time.Duration {
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

// NetworkError wraps a failure to get any HTTP answer. The request URL is
// dropped from the message: it can hold an email address in its query.
func NetworkError(op string, err error) *Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := "network error"
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		msg = "timed out"
	case errors.Is(err, context.Canceled):
		msg = "canceled"
	}
	return &Error{Kind: Transient, Op: op, Message: msg, Err: err}
}

// WatchSent returns ctx with a trace that notes when a request made with it
// has been written in full, and a func that reports it. A request that went
// out and got no answer may have been carried out; one that never went out
// was not.
func WatchSent(ctx context.Context) (context.Context, func() bool) {
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			sent.Store(true)
		}
	}}
	return httptrace.WithClientTrace(ctx, trace), sent.Load
}

// NoAnswer is the error for a request that was sent in full and got no
// answer: Unconfirmed for a reset (the IdP may have sent the mail),
// NetworkError's kind for anything else.
func NoAnswer(op string, err error) *Error {
	e := NetworkError(op, err)
	if op == OpReset {
		e.Kind = Unconfirmed
		e.Message = "sent, but " + e.Message + " before the answer came: the IdP may have carried it out"
	}
	return e
}

// Excerpt makes text from an IdP (a message, or a proxy's error page) fit
// for an error message and a log line: valid UTF-8, whitespace runs made one
// space, cut at n bytes on a character boundary.
func Excerpt(text string, n int) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(text, "\uFFFD")), " ")
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// Scrub replaces every secret (a token, a client secret, a password) found
// in an answer with [redacted], before any of it can reach an error message
// or a log: a proxy's error page may echo the request it refused. Secrets
// shorter than 6 bytes are left alone, or scrubbing would mangle the text.
func Scrub(b []byte, secrets ...string) []byte {
	for _, s := range secrets {
		if len(s) >= 6 && bytes.Contains(b, []byte(s)) {
			b = bytes.ReplaceAll(b, []byte(s), []byte("[redacted]"))
		}
	}
	return b
}
