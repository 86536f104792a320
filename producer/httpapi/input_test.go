package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTheAPIRefusesWhatTheCLIRefuses: bytes that are not UTF-8 and control
// characters in meta are refused with a 400 that says where; JSON decoding alone would have turned the bytes into U+FFFD.
func TestTheAPIRefusesWhatTheCLIRefuses(t *testing.T) {
	e := setup(t, 0)
	for name, tc := range map[string]struct {
		body   string
		status int
		want   string
	}{
		"email not UTF-8": {`{"provider":"corp","user":{"email":"al` + "\xff" + `ce@example.com"}}`, 400, "not valid UTF-8"},
		"email U+FFFD":    {`{"provider":"corp","user":{"email":"al\ufffdce@example.com"}}`, 422, "user.email:"},
		"meta escape":     {`{"provider":"corp","user":{"email":"alice@example.com"},"meta":{"ticket":"T-1\u001b[2J"}}`, 422, "meta.ticket: value contains the control character U+001B"},
		"meta not UTF-8":  {`{"provider":"corp","user":{"email":"alice@example.com"},"meta":{"ticket":"T-` + "\xff" + `"}}`, 400, "not valid UTF-8"},
	} {
		t.Run(name, func(t *testing.T) {
			status, h, b := e.call(t, http.MethodPost, "/v1/resets", appToken, "application/json", strings.NewReader(tc.body))
			require.Equal(t, tc.status, status, "%s", b)
			require.Contains(t, problem(t, h, b).Detail, tc.want)
		})
	}
	status, _, b := e.call(t, http.MethodPost, "/v1/resets", appToken, "application/json",
		strings.NewReader(`{"provider":"corp","user":{"email":"alice@example.com"},"meta":{"note":"line 1\nline 2\tend"}}`))
	require.Equal(t, http.StatusAccepted, status, "tab and line breaks are text: %s", b)
}
