package firebase

import (
	"net/http"
	"testing"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/idptest"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// FuzzClassify feeds any answer to the error classifier: it must not panic,
// and its error must be a known kind with a message fit for one log line.
func FuzzClassify(f *testing.F) {
	f.Add(400, "", []byte(`{"error":{"code":400,"message":"EMAIL_NOT_FOUND","errors":[{"message":"EMAIL_NOT_FOUND","reason":"invalid"}]}}`))
	f.Add(400, "", []byte(`{"error":{"code":400,"message":"TOO_MANY_ATTEMPTS_TRY_LATER : Too many attempts"}}`))
	f.Add(400, "", []byte(`{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}`))
	f.Add(401, "", []byte(`{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`))
	f.Add(403, "", []byte(`{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}`))
	f.Add(429, "3", []byte(""))
	f.Add(502, "", []byte("<html>Bad Gateway</html>"))
	f.Add(400, "", []byte(`{"error":{"message":"INVALID_EMAIL : bad\naddress@example.com"}}`))
	f.Add(400, "", []byte(`{"error":{"message":42,"details":"no"}}`))
	admin := &Provider{cfg: Config{BaseURL: DefaultBaseURL}, tokens: &apiclient.TokenCache[string]{}}
	client := &Provider{cfg: Config{BaseURL: DefaultBaseURL}}
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		for _, p := range []*Provider{admin, client} {
			idptest.CheckClassified(t, p.classify(idp.OpReset, &apiclient.Response{Status: status, Header: h, Body: body}))
		}
	})
}
