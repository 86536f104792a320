package oktatest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/emulator"
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
	t.Helper()
	goBin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	out, err := exec.CommandContext(t.Context(), goBin, "mod", "download", "-json", sdkModule).Output()
	require.NoError(t, err, "fetching %s through the module proxy for Okta's OpenAPI document", sdkModule)
	var mod struct{ Dir, Error string }
	require.NoError(t, json.Unmarshal(out, &mod))
	require.Empty(t, mod.Error)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(filepath.Join(mod.Dir, specFile))
	require.NoError(t, err)
	doc.Servers = openapi3.Servers{{URL: "/"}}
	router, err := legacy.NewRouter(doc, openapi3.DisableExamplesValidation(), openapi3.DisableSchemaDefaultsValidation())
	require.NoError(t, err)
	return router
}

// validate checks one logged request, and its answer whatever its status,
// against the document. The token endpoint is the authorization server's,
// which the management document does not describe.
func validate(t *testing.T, router routers.Router, r emulator.Request) {
	t.Helper()
	u := &url.URL{Path: r.Path, RawQuery: r.Query.Encode()}
	req, err := http.NewRequest(r.Method, u.String(), bytes.NewReader(r.Body))
	require.NoError(t, err)
	req.Header = r.Header.Clone()
	route, params, err := router.FindRoute(req)
	require.NoError(t, err, "%s %s is not in Okta's management API", r.Method, r.Path)
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	require.NoError(t, openapi3filter.ValidateRequest(context.Background(), in), "%s %s?%s", r.Method, r.Path, u.RawQuery)
	// The validator lets unknown query parameters through: Okta ignores
	// them, so a misspelt one would silently do nothing.
	declared := map[string]bool{}
	for _, ps := range []openapi3.Parameters{route.PathItem.Parameters, route.Operation.Parameters} {
		for _, p := range ps {
			if p.Value.In == openapi3.ParameterInQuery {
				declared[p.Value.Name] = true
			}
		}
	}
	for name := range r.Query {
		require.True(t, declared[name], "%s %s: query parameter %q is not in the document", r.Method, r.Path, name)
	}
	if r.Status == http.StatusUnauthorized {
		return // the document gives 401 no schema
	}
	res := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: r.Status, Header: r.ResponseHeader,
		Body:    io.NopCloser(bytes.NewReader(r.Response)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	require.NoError(t, openapi3filter.ValidateResponse(context.Background(), res), "answer %d to %s %s: %s", r.Status, r.Method, r.Path, r.Response)
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
