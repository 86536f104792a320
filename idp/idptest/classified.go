package idptest

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/resetq/resetq/idp"
)

// CheckClassified fails t unless e is what a provider's classifier must
// make of any answer whatever: an error of a known kind, no negative wait,
// and a message that is one line of valid UTF-8, fit for a log line and a
// webhook event. Each provider's fuzz target calls it.
func CheckClassified(t testing.TB, e *idp.Error) {
	t.Helper()
	switch {
	case e == nil:
		t.Fatal("no error")
	case strings.HasPrefix(e.Kind.String(), "kind("):
		t.Fatalf("an unknown kind: %s", e.Kind)
	case e.RetryAfter < 0:
		t.Fatalf("a negative wait: %s", e.RetryAfter)
	}
	if msg := e.Error(); strings.ContainsAny(msg, "\n\r") || !utf8.ValidString(msg) {
		t.Fatalf("not one valid line: %q", msg)
	}
}
