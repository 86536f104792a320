// Package openapitest holds an emulator to an IdP's own OpenAPI document:
// every request it logged, and its answers, are checked against the
// document's operations (kin-openapi), as the Keycloak and Okta emulators'
// tests do.
package openapitest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/internal/emulator"
)

// Router loads the document at path and routes requests to its
// operations, wherever the document says its servers are. Its examples
// and schema defaults are not checked: vendors' documents get them wrong
// (Keycloak's gives boolean parameters the string default "false").
func Router(t testing.TB, path string) routers.Router {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(path)
	require.NoError(t, err)
	doc.Servers = openapi3.Servers{{URL: "/"}}
	router, err := legacy.NewRouter(doc, openapi3.DisableSchemaDefaultsValidation(), openapi3.DisableExamplesValidation())
	require.NoError(t, err)
	return router
}

// Check says how strictly Validate holds a request to the document.
type Check struct {
	// Answers says which answers' statuses are checked too (nil: none).
	Answers func(status int) bool
	// DeclaredQuery requires every query parameter to be the operation's:
	// kin-openapi lets unknown ones through, and a vendor that ignores
	// them would silently ignore a misspelt one.
	DeclaredQuery bool
}

// Successes checks 2xx answers.
func Successes(status int) bool { return status >= 200 && status < 300 }

// Validate checks one logged request, and its answer as c says, against
// the document.
func Validate(t testing.TB, router routers.Router, r emulator.Request, c Check) {
	t.Helper()
	u := &url.URL{Path: r.Path, RawQuery: r.Query.Encode()}
	req, err := http.NewRequest(r.Method, u.String(), bytes.NewReader(r.Body))
	require.NoError(t, err)
	req.Header = r.Header.Clone()
	route, params, err := router.FindRoute(req)
	require.NoError(t, err, "%s %s is not in the document", r.Method, r.Path)
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	require.NoError(t, openapi3filter.ValidateRequest(context.Background(), in), "%s %s?%s", r.Method, r.Path, u.RawQuery)
	if c.DeclaredQuery {
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
	}
	if c.Answers == nil || !c.Answers(r.Status) {
		return
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: r.Status, Header: r.ResponseHeader,
		Body:    io.NopCloser(bytes.NewReader(r.Response)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	require.NoError(t, openapi3filter.ValidateResponse(context.Background(), out), "answer %d to %s %s: %s", r.Status, r.Method, r.Path, r.Response)
}
