package keygen

import (
	"net/http"
	"strings"
	"testing"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/idptest"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// FuzzClassify feeds any answer to the error classifier: it must not panic,
// and its error must be a known kind with a message fit for one log line.
func FuzzClassify(f *testing.F) {
	f.Add(401, "", "", []byte(`{"errors":[{"title":"Unauthorized","detail":"must be a valid token","code":"TOKEN_INVALID"}]}`))
	f.Add(429, "3600", "1700000000", []byte(`{"errors":[{"title":"Throttle limit reached"}]}`))
	f.Add(404, "", "", []byte(`{"errors":[{"code":"ACCOUNT_NOT_FOUND","detail":"The requested account was not found"}]}`))
	f.Add(502, "", "", []byte("<html>Bad Gateway</html>"))
	f.Add(502, "", "", []byte("a"+strings.Repeat("€", 100))) // cut inside a character, once
	f.Add(422, "", "", []byte(`{"errors":[{"detail":"two\nlines","code":"X\r"}]}`))
	f.Add(400, "", "", []byte(`{"errors":[]}`))
	f.Add(422, "", "", []byte(strings.Repeat("ü", 200)))
	p := &Provider{cfg: Config{Account: "acme"}}
	f.Fuzz(func(t *testing.T, status int, retryAfter, reset string, body []byte) {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		if reset != "" {
			h.Set("X-RateLimit-Reset", reset)
		}
		idptest.CheckClassified(t, p.classify(idp.OpReset, &apiclient.Response{Status: status, Header: h, Body: body}))
	})
}
