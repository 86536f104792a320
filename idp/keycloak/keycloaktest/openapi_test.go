package keycloaktest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/routers"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/openapitest"
	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
)

// The official Keycloak 26.6 admin OpenAPI document, copied unchanged from
// ../shared/reference so the test runs on a fresh checkout.
const specPath = "testdata/keycloak-admin-openapi-26.6.json"

func loadSpec(t *testing.T) routers.Router { return openapitest.Router(t, specPath) }

// validate checks one logged admin request, and its answer when it was a
// success, against the OpenAPI document.
func validate(t *testing.T, router routers.Router, r keycloaktest.Request) {
	t.Helper()
	openapitest.Validate(t, router, r, openapitest.Check{Answers: openapitest.Successes})
}

// TestEveryAdminRequestMatchesTheOpenAPIDocument drives resetq's Keycloak
// client through everything it does against the emulator, then checks every
// admin request the emulator received, and every success it sent back,
// against Keycloak's official document. A client that invents a parameter,
// or an emulator that answers in a shape Keycloak does not, fails here.
func TestEveryAdminRequestMatchesTheOpenAPIDocument(t *testing.T) {
	t.Parallel()
	router := loadSpec(t)
	s := keycloaktest.NewServer()
	t.Cleanup(s.Close)
	s.AddServiceAccount("corp", "resetq", secret)
	s.AddClient("corp", keycloaktest.Client{ClientID: "web", Public: true, Enabled: true,
		RedirectURIs: []string{"https://app.example.com/*"}})
	sample := s.AddSampleUsers("corp", 12)

	ctx := context.Background()
	var first *keycloak.Provider
	for _, cfg := range []keycloak.Config{
		{BaseURL: s.URL(), Realm: "corp", ClientID: "resetq", ClientSecret: secret},
		{BaseURL: s.URL(), Realm: "corp", ClientID: "resetq", ClientSecret: secret, Lifespan: 2 * time.Hour,
			LinkClientID: "web", RedirectURI: "https://app.example.com/welcome", Actions: []string{"UPDATE_PASSWORD", "VERIFY_EMAIL"}},
		{BaseURL: s.URL(), Realm: "corp", Grant: keycloak.GrantPassword, TokenRealm: "master",
			Username: keycloaktest.MasterAdminUser, Password: keycloaktest.MasterAdminPassword},
	} {
		p, err := keycloak.New(cfg)
		require.NoError(t, err)
		if first == nil {
			first = p
		}
		_, err = p.Check(ctx)
		require.NoError(t, err)
		for _, ref := range []idp.UserRef{
			{Email: sample.Emails[3]},
			{Email: sample.Plus},
			{Username: "USER0005"},
			{ID: s.UserID("corp", "user0006")},
			{Email: "nobody@example.com"},
			{ID: "00000000-0000-0000-0000-000000000000"},
			{Username: sample.NoEmail},
			{Email: sample.Disabled[0]},
		} {
			_ = p.Reset(ctx, idp.Request{User: ref})
		}
	}
	s.ExpireAllTokens() // the next call sees 401, refreshes, and retries
	require.NoError(t, first.Reset(ctx, idp.Request{User: idp.UserRef{Email: sample.Emails[0]}}))

	admin, unauthorized := 0, 0
	for _, r := range s.Requests() {
		if !strings.HasPrefix(r.Path, "/admin/") {
			continue
		}
		admin++
		if r.Status == http.StatusUnauthorized {
			unauthorized++
		}
		validate(t, router, r)
	}
	// 3 configurations × (2 check calls: users, events settings + 11 calls
	// for 8 users) + 401, retry, PUT.
	require.Equal(t, 42, admin, "the scenario exercised the admin API")
	require.Equal(t, 1, unauthorized)
	require.Greater(t, s.TotalResets(), 8)
}

// TestTheEmulatorsOwnAnswersMatchTheDocument covers the routes resetq's
// client does not call.
func TestTheEmulatorsOwnAnswersMatchTheDocument(t *testing.T) {
	t.Parallel()
	router := loadSpec(t)
	b := setup(t)
	tok := b.bearer(t, "resetq")
	b.do(t, http.MethodGet, "/admin/realms/corp/users/"+b.user, tok, "")
	b.do(t, http.MethodGet, "/admin/realms/corp/users?search=ali&first=0&max=5&enabled=true", tok, "")
	b.do(t, http.MethodGet, "/admin/realms/corp/users/count?email=alice", tok, "")
	b.do(t, http.MethodPut, "/admin/realms/corp/users/"+b.user+"/reset-password", tok, `{"type":"password","value":"x","temporary":true}`)
	b.do(t, http.MethodPut, "/admin/realms/corp/users/"+b.user+"/reset-password-email?client_id=web", tok, "")
	for _, r := range b.srv.Requests() {
		if strings.HasPrefix(r.Path, "/admin/") {
			validate(t, router, r)
		}
	}
}
