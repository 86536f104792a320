package firebase_test

import (
	"testing"
	"time"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/firebase"
	"github.com/resetq/resetq/idp/firebase/firebasetest"
	"github.com/resetq/resetq/idp/idptest"
)

const project = "acme-prod"

// The conformance suite, as an admin with a service account's key (signed
// JWTs traded for tokens at the emulator's token endpoint), looking users
// up first.
func TestConformance(t *testing.T) {
	t.Parallel()
	idptest.Run(t, func(t *testing.T) *idptest.Env {
		s := firebasetest.NewServer()
		t.Cleanup(s.Close)
		s.RefuseOwner()
		s.AddUser(project, "alice@example.com")
		key := s.ServiceAccount(project, "resetq")
		p, err := firebase.New(firebase.Config{ProjectID: project, BaseURL: s.BaseURL(), ServiceAccount: key,
			VerifyUser: true, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return &idptest.Env{
			Provider:          p,
			Accepts:           firebase.Accepts,
			Known:             idp.UserRef{Email: "alice@example.com"},
			Unknown:           idp.UserRef{Email: "nobody@example.com"},
			Sent:              func() int { return s.SentTo(project, "alice@example.com") },
			Faults:            s,
			ResetEndpoint:     firebasetest.EndpointSend,
			RejectCredentials: s.DeleteServiceAccountKeys,
			ExpireTokens:      s.ExpireTokens,
			TokenRequests:     s.TokensIssued,
			HideUnknown:       func() { s.SetEnumerationProtection(project, true) },
			Secrets:           func() []string { return append([]string{string(key), privateKey(t, key)}, s.IssuedTokens()...) },
			Held:              func() []string { return append([]string{privateKey(t, key)}, last(s.IssuedTokens())...) },
		}
	})
}

// And with only a Web API key, which cannot look users up: an unknown
// address is told apart by the IdP (no enumeration protection).
func TestConformanceWithAnAPIKey(t *testing.T) {
	t.Parallel()
	const apiKey = "AIzaSyConformance-0123456789abcdefghij"
	idptest.Run(t, func(t *testing.T) *idptest.Env {
		s := firebasetest.NewServer()
		t.Cleanup(s.Close)
		s.AddUser("demo-resetq", "alice@example.com")
		p, err := firebase.New(firebase.Config{ProjectID: "demo-resetq", BaseURL: s.BaseURL(), APIKey: apiKey, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return &idptest.Env{
			Provider:          p,
			Accepts:           firebase.ClientAccepts,
			Known:             idp.UserRef{Email: "alice@example.com"},
			Unknown:           idp.UserRef{Email: "nobody@example.com"},
			Sent:              func() int { return s.SentTo("demo-resetq", "alice@example.com") },
			Faults:            s,
			ResetEndpoint:     firebasetest.EndpointSend,
			RejectCredentials: func() { s.RefuseKey(apiKey) },
			OneCall:           true,
			Secrets:           func() []string { return []string{apiKey} },
			Held:              func() []string { return []string{apiKey} },
		}
	})
}
