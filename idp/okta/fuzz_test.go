package okta

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
	f.Add(404, "", []byte(`{"errorCode":"E0000007","errorSummary":"Not found: Resource not found: x (User)","errorId":"oae1"}`))
	f.Add(403, "", []byte(`{"errorCode":"E0000038","errorSummary":"not allowed"}`))
	f.Add(429, "1767225600", []byte(`{"errorCode":"E0000047"}`))
	f.Add(401, "", []byte(`{"errorCode":"E0000011","errorSummary":"Invalid token provided"}`))
	f.Add(502, "", []byte("<html>Bad Gateway</html>"))
	f.Add(400, "", []byte(`{"errorCode":"E\n1","errorId":"a\rb"}`))
	f.Add(400, "", []byte(`{"errorCode":7}`))
	p := &Provider{org: "https://acme.okta.com"}
	f.Fuzz(func(t *testing.T, status int, reset string, body []byte) {
		h := http.Header{}
		if reset != "" {
			h.Set("X-Rate-Limit-Reset", reset)
		}
		idptest.CheckClassified(t, p.classify(idp.OpReset, &apiclient.Response{Status: status, Header: h, Body: body}))
	})
}
