package httpapi_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/producer/httpapi"
)

// halts is a provider halt service of the providers "corp" and "b2c",
// counting resumes.
type halts struct {
	mu      sync.Mutex
	halted  *httpapi.ProviderHalt
	resumes int
}

func (h *halts) Halt(_ context.Context, provider string) (httpapi.ProviderHalt, error) {
	if provider != "corp" && provider != "b2c" {
		return httpapi.ProviderHalt{}, httpapi.ErrUnknownProvider
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.halted == nil || h.halted.Provider != provider {
		return httpapi.ProviderHalt{Provider: provider}, nil
	}
	return *h.halted, nil
}

func (h *halts) Resume(_ context.Context, provider string) (httpapi.ProviderResumed, error) {
	if provider != "corp" && provider != "b2c" {
		return httpapi.ProviderResumed{}, httpapi.ErrUnknownProvider
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.resumes++
	out := httpapi.ProviderResumed{Provider: provider}
	if h.halted != nil && h.halted.Provider == provider {
		out.WasHalted, out.Reason, out.Since, out.Requeued = true, h.halted.Reason, h.halted.Since, 2
		h.halted = nil
	}
	return out, nil
}

func (h *halts) resumed() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.resumes
}

func TestAnOperatorReadsAHaltAndResumesTheProviderThroughTheAPI(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	client, err := producer.NewClient(producer.Config{Redis: rdb, Providers: []producer.Provider{{Name: "corp", Type: "keycloak"}}})
	require.NoError(t, err)
	since := time.Now().UTC().Truncate(time.Second)
	h := &halts{halted: &httpapi.ProviderHalt{Provider: "corp", Halted: true, Reason: "credentials_rejected",
		Hint: "check auth.client_secret", Since: &since}}
	e := serve(t, httpapi.Config{Client: client, Halts: h})

	code, hd, b := e.json(t, http.MethodGet, "/v1/providers/corp/halt", appToken, nil)
	require.Equal(t, http.StatusForbidden, code, "an application's token does not steer providers")
	require.Equal(t, "urn:resetq:problem:forbidden", problem(t, hd, b).Type)
	code, _, _ = e.json(t, http.MethodPost, "/v1/providers/corp/resume", appToken, nil)
	require.Equal(t, http.StatusForbidden, code)
	require.Zero(t, h.resumed())

	code, _, b = e.json(t, http.MethodGet, "/v1/providers/corp/halt", opsToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"provider":"corp","halted":true,"reason":"credentials_rejected",
		"hint":"check auth.client_secret","since":"`+since.Format(time.RFC3339)+`"}`, string(b))

	code, hd, _ = e.json(t, http.MethodGet, "/v1/providers/corp/resume", opsToken, nil)
	require.Equal(t, http.StatusMethodNotAllowed, code)
	require.Equal(t, "POST", hd.Get("Allow"))

	code, _, b = e.json(t, http.MethodPost, "/v1/providers/corp/resume", opsToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"provider":"corp","was_halted":true,"reason":"credentials_rejected",
		"since":"`+since.Format(time.RFC3339)+`","requeued":2}`, string(b))
	require.Equal(t, 1, h.resumed())

	code, _, b = e.json(t, http.MethodPost, "/v1/providers/corp/resume", opsToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"provider":"corp","was_halted":false,"requeued":0}`, string(b),
		"resuming a running provider changes nothing")

	code, _, b = e.json(t, http.MethodGet, "/v1/providers/corp/halt", opsToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"provider":"corp","halted":false}`, string(b))

	code, hd, b = e.json(t, http.MethodGet, "/v1/providers/Not_A_Name/halt", opsToken, nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "urn:resetq:problem:not-found", problem(t, hd, b).Type)

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		path := map[string]string{http.MethodGet: "/v1/providers/okta/halt", http.MethodPost: "/v1/providers/okta/resume"}[method]
		code, hd, b = e.json(t, method, path, opsToken, nil)
		require.Equal(t, http.StatusNotFound, code, "%s %s: a provider that is not configured", method, path)
		p := problem(t, hd, b)
		require.Equal(t, "urn:resetq:problem:not-found", p.Type)
		require.Equal(t, "provider okta is not configured", p.Detail)
	}
}

func TestWithoutHaltsTheProviderRoutesAreNotServed(t *testing.T) {
	t.Parallel()
	e := setup(t, 0)
	code, h, b := e.json(t, http.MethodGet, "/v1/providers/corp/halt", opsToken, nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "urn:resetq:problem:not-found", problem(t, h, b).Type)
}
