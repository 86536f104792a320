package keycloak

import (
	"net/http"
	"strings"
	"testing"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/idptest"
)

// FuzzClassify feeds any answer to the error classifier: it must not panic,
// and its error must be a known kind with a message fit for one log line.
func FuzzClassify(f *testing.F) {
	f.Add(404, "", []byte(`{"error":"User not found"}`))
	f.Add(500, "", []byte(`{"errorMessage":"Failed to send execute actions email: Invalid sender address 'null'"}`))
	f.Add(400, "", []byte(`{"error":"invalid_grant","error_description":"Invalid user credentials"}`))
	f.Add(503, "7", []byte("<html><body>Service Unavailable</body></html>"))
	f.Add(502, "", []byte("a"+strings.Repeat("€", 100))) // cut inside a character, once
	f.Add(400, "", []byte(`{"error":"line one\nline two"}`))
	f.Add(429, "Wed, 21 Oct 2015 07:28:00 GMT", []byte(strings.Repeat("é", 200)))
	f.Add(403, "", []byte(`{"error":"HTTP 403 Forbidden"}`))
	p := &Provider{cfg: Config{Realm: "corp", ClientID: "resetq"}}
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		idptest.CheckClassified(t, p.classify(idp.OpReset, status, h, body))
	})
}
