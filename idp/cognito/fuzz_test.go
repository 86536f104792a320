package cognito

import (
	"net/http"
	"testing"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/idptest"
)

// FuzzClassify feeds any answer through the SDK to the error classifier:
// it must not panic, and its error must be a known kind with a message fit
// for one log line.
func FuzzClassify(f *testing.F) {
	f.Add(400, "UserNotFoundException:", []byte(`{"__type":"UserNotFoundException","message":"User does not exist."}`))
	f.Add(400, "", []byte(`{"__type":"com.amazonaws#TooManyRequestsException","message":"x"}`))
	f.Add(400, "NotAuthorizedException:", []byte(`{"__type":"NotAuthorizedException","message":"User is disabled."}`))
	f.Add(502, "", []byte("<html>Bad Gateway</html>"))
	f.Add(400, "x\r\ny", []byte(`{"__type":"A\nB","message":7}`))
	f.Add(200, "", []byte(`{"Users":[{"Username":3}]}`))
	f.Fuzz(func(t *testing.T, status int, errType string, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		h := http.Header{}
		if errType != "" {
			h["X-Amzn-Errortype"] = []string{errType}
		}
		if err := resetWith(t, answering{status: status, header: h, body: body}); err != nil {
			idptest.CheckClassified(t, idp.AsError(err))
		}
	})
}
