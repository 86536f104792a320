package oktatest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/routers"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/emulator"
	"github.com/resetq/resetq/idp/internal/openapitest"
	"github.com/resetq/resetq/idp/okta"
	"github.com/resetq/resetq/idp/okta/oktatest"
)

const apiToken = "00resetq-api-token-0123456789abcdefghij"

// Okta's management API document ships inside its Go SDK; the go command
// fetches that module through the module proxy (it is not a dependency of
// resetq's build).
const (
	sdkModule = "github.com/okta/okta-sdk-golang/v5@v5.0.2"
	specFile  = ".generator/okta-management-APIs-oasv3-noEnums-inheritance.yaml"
)

func loadSpec(t *testing.T) routers.Router {
	return openapitest.Router(t, openapitest.ModuleFile(t, sdkModule, specFile))
}

// validate checks one logged request, and its answer whatever its status
// (the document gives 401 no schema), against the document, every query
// parameter declared.
func validate(t *testing.T, router routers.Router, r emulator.Request) {
	t.Helper()
	openapitest.Validate(t, router, r, openapitest.Check{DeclaredQuery: true,
		Answers: func(status int) bool { return status != http.StatusUnauthorized }})
}

// TestEveryRequestMatchesOktasDocument drives resetq's Okta client through
// everything it does against the emulator, with an API token and as a
// service app, by both methods, and checks every management API request the
// emulator received, and every answer it sent (errors too), against Okta's
// document. A client that invents a parameter, or an emulator that answers
// in a shape Okta does not, fails here.
func TestEveryRequestMatchesOktasDocument(t *testing.T) {
	t.Parallel()
	router := loadSpec(t)
	s := oktatest.NewServer()
	t.Cleanup(s.Close)
	s.AddAPIToken(apiToken)
	key, kid := s.AddServiceApp("0oaresetq", okta.Scopes...)
	alice := s.AddUser("alice@example.com")
	bob := s.AddUser("bob@example.com")
	staged := s.AddUser("staged@example.com")
	s.Set(staged, func(u *oktatest.User) { u.Status = "STAGED" })
	fed := s.AddUser("federated@example.com")
	s.Set(fed, func(u *oktatest.User) { u.SelfService = false })

	ctx := context.Background()
	for _, cfg := range []okta.Config{
		{OrgURL: s.URL(), APIToken: apiToken, RevokeSessions: true},
		{OrgURL: s.URL(), ClientID: "0oaresetq", PrivateKey: key, KeyID: kid, Method: okta.MethodForgot},
	} {
		s.Set(bob, func(u *oktatest.User) { u.Status = "ACTIVE" }) // out of the last round's RECOVERY
		p, err := okta.New(cfg)
		require.NoError(t, err)
		_, err = p.Check(ctx)
		require.NoError(t, err)
		for _, ref := range []idp.UserRef{
			{Email: "bob@example.com"}, {Username: "BOB@example.com"}, {ID: alice.ID},
			{Email: "nobody@example.com"}, {ID: "00unobody00000000000"}, {Username: "nobody"},
			{Email: "staged@example.com"}, {Email: "federated@example.com"}, {Email: `quote"d@example.com`},
		} {
			_ = p.Reset(ctx, idp.Request{User: ref})
		}
		s.ExpireTokens() // the service app's next call sees 401, refreshes, and retries
		s.Throttle(1, time.Second)
		_ = p.Reset(ctx, idp.Request{User: idp.UserRef{Email: "bob@example.com"}})
		require.NoError(t, p.Reset(ctx, idp.Request{User: idp.UserRef{Email: "bob@example.com"}}))
	}

	seen := map[int]int{}
	api := 0
	for _, r := range s.Requests() {
		if r.Endpoint == oktatest.EndpointToken {
			continue
		}
		api++
		seen[r.Status]++
		validate(t, router, r)
	}
	require.Greater(t, api, 30, "the scenario exercised the management API")
	for _, status := range []int{200, 401, 403, 404, 429} {
		require.Positive(t, seen[status], "answers of status %d were checked: %v", status, seen)
	}
	require.Positive(t, s.SentTo("bob@example.com"))
}
