package apiclient

import (
	"bytes"
	"strings"
)

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
