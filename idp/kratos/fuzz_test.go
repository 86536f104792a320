package kratos

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
	f.Add(400, "", []byte(`{"id":"f","ui":{"nodes":[{"messages":[{"id":4000001,"type":"error","text":"x"}]}]}}`))
	f.Add(400, "", []byte(`{"id":"f","active":"link","ui":{"messages":[{"id":4010005,"type":"error"}]}}`))
	f.Add(404, "", []byte(`{"error":{"code":404,"reason":"The recovery request could not be found."}}`))
	f.Add(400, "", []byte(`{"error":{"code":400,"reason":"Recovery is not allowed because it was disabled."}}`))
	f.Add(429, "3", []byte(""))
	f.Add(502, "", []byte("<html>Bad Gateway</html>"))
	f.Add(400, "", []byte(`{"error":{"reason":"two\nlines","id":"x\r"}}`))
	f.Add(400, "", []byte(`{"ui":{"messages":[{"id":"not a number"}]}}`))
	p := &Provider{public: "https://auth.example.com", admin: "https://admin.example.com"}
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		for _, api := range []api{public, admin} {
			idptest.CheckClassified(t, p.classify(idp.OpReset, api, &apiclient.Response{Status: status, Header: h, Body: body}))
		}
	})
}
