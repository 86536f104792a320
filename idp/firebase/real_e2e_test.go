//go:build e2e

package firebase_test

// The provider against Google's own Firebase Auth emulator (make e2e):
// the conformance suite through a fault proxy, and what a reset leaves in
// the emulator: the code, which completes the reset.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/firebase"
	"github.com/resetq/resetq/idp/firebase/firebasetest"
	"github.com/resetq/resetq/idp/idptest"
	"github.com/resetq/resetq/idp/internal/emulator"
	"github.com/resetq/resetq/internal/realidp"
)

// googles is one emulator for the package's tests; each case has a
// project of its own in it.
var (
	projects atomic.Int64
)

func newProject() string { return fmt.Sprintf("demo-resetq-%d", projects.Add(1)) }

// admin makes an admin call to Google's emulator and decodes the answer.
func admin(t *testing.T, f *realidp.FirebaseAuth, method, path string, body, out any) {
	t.Helper()
	status, b, err := f.Do(t.Context(), method, path, body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, "%s %s: %s", method, path, b)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out))
	}
}

func addUser(t *testing.T, f *realidp.FirebaseAuth, project, email string) {
	admin(t, f, http.MethodPost, "/identitytoolkit.googleapis.com/v1/projects/"+project+"/accounts",
		map[string]any{"email": email, "password": "secret-123"}, nil)
}

// codesFor returns the reset codes the emulator holds for email.
func codesFor(t *testing.T, f *realidp.FirebaseAuth, project, email string) []string {
	var got struct {
		OobCodes []firebasetest.OobCode `json:"oobCodes"`
	}
	admin(t, f, http.MethodGet, "/emulator/v1/projects/"+project+"/oobCodes", nil, &got)
	var out []string
	for _, c := range got.OobCodes {
		if c.Email == email && c.RequestType == "PASSWORD_RESET" {
			out = append(out, c.OobCode)
		}
	}
	return out
}

func TestConformanceAgainstGooglesEmulator(t *testing.T) {
	t.Parallel()
	f := realidp.NewTestFirebaseAuth(t)
	idptest.Run(t, func(t *testing.T) *idptest.Env {
		project := newProject()
		proxy, err := firebasetest.NewProxy(f.URL())
		require.NoError(t, err)
		t.Cleanup(proxy.Close)
		addUser(t, f, project, "alice@example.com")
		p, err := firebase.New(firebase.Config{ProjectID: project, BaseURL: proxy.URL() + firebasetest.Prefix, Emulator: true,
			VerifyUser: true, Timeout: 10 * time.Second})
		require.NoError(t, err)
		return &idptest.Env{
			Provider:      p,
			Accepts:       firebase.Accepts,
			Known:         idp.UserRef{Email: "alice@example.com"},
			Unknown:       idp.UserRef{Email: "nobody@example.com"},
			Sent:          func() int { return len(codesFor(t, f, project, "alice@example.com")) },
			Faults:        proxy,
			ResetEndpoint: firebasetest.EndpointSend,
			// Google's emulator takes "owner" from anyone: the proxy
			// answers as Google does to a revoked token.
			RejectCredentials: func() {
				proxy.Inject(emulator.Fault{Endpoint: emulator.Any, Status: http.StatusUnauthorized, Body: unauthenticated})
			},
			HideUnknown: func() {
				admin(t, f, http.MethodPatch, "/emulator/v1/projects/"+project+"/config",
					map[string]any{"emailPrivacyConfig": map[string]any{"enableImprovedEmailPrivacy": true}}, nil)
			},
			// "owner" is the emulator's well-known admin credential:
			// nothing to keep secret (the suite's fake-emulator run
			// covers a service account's key and tokens).
			Secrets: func() []string { return nil },
			Held:    func() []string { return nil },
		}
	})
}

// unauthenticated is Google's emulator's answer to a bearer it refuses.
const unauthenticated = `{"error":{"code":401,"message":"Request had invalid authentication credentials.","errors":[{"message":"Invalid Credentials","domain":"global","reason":"authError"}],"status":"UNAUTHENTICATED"}}`

// A reset through the provider leaves a code in Google's emulator, and the
// code sets a new password: the user signs in with it, not the old one.
func TestAResetCodeSetsANewPassword(t *testing.T) {
	t.Parallel()
	f := realidp.NewTestFirebaseAuth(t)
	// The emulator's own project: the client calls below (a key, as the
	// reset page makes them) land there.
	project := realidp.FirebaseProject
	addUser(t, f, project, "bob@example.com")
	p, err := firebase.New(firebase.Config{ProjectID: project, BaseURL: f.BaseURL(), Emulator: true, VerifyUser: true})
	require.NoError(t, err)
	require.NoError(t, p.Reset(context.Background(), idp.Request{User: idp.UserRef{Email: "bob@example.com"}}))
	codes := codesFor(t, f, project, "bob@example.com")
	require.Len(t, codes, 1)

	client := func(action string, body map[string]any) (int, string) {
		status, b, err := f.Do(t.Context(), http.MethodPost, "/identitytoolkit.googleapis.com/v1/accounts:"+action+"?key=any-key", body)
		require.NoError(t, err)
		return status, string(b)
	}
	status, b := client("resetPassword", map[string]any{"oobCode": codes[0], "newPassword": "a-new-secret-456"})
	require.Equal(t, http.StatusOK, status, b)
	require.Contains(t, b, `"requestType":"PASSWORD_RESET"`)

	status, b = client("signInWithPassword", map[string]any{"email": "bob@example.com", "password": "a-new-secret-456", "returnSecureToken": true})
	require.Equal(t, http.StatusOK, status, "the new password signs in: %s", b)
	status, b = client("signInWithPassword", map[string]any{"email": "bob@example.com", "password": "secret-123", "returnSecureToken": true})
	require.Equal(t, http.StatusBadRequest, status, "the old one does not: %s", b)

	// And the check, against the real thing, says what it sees.
	r, err := p.Check(context.Background())
	require.NoError(t, err)
	require.Contains(t, strings.Join(r.Lines, "\n"), "email enumeration protection: off")
}
