package console_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/console"
	"github.com/resetq/resetq/internal/listener"
)

// source is a Source with two providers, one halted.
type source struct {
	mu      sync.Mutex
	halted  bool
	resumes []string
	checks  []string
}

func (s *source) Providers(context.Context) ([]console.Provider, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []console.Provider{
		{Name: "corp", Type: "keycloak", RateLimit: "20/s", Halted: s.halted, Reason: "credentials_rejected",
			Message: "invalid_client", Hint: "rotate the client secret in resetq's configuration", Since: time.Now().Add(-5 * time.Minute),
			Waiting: 1200, InFlight: 3, Retrying: 2},
		{Name: "licensing", Type: "keygen", RateLimit: "unlimited", Waiting: 0},
	}, nil
}

func (s *source) Resume(_ context.Context, name string) (console.Resumed, error) {
	if name != "corp" && name != "licensing" {
		return console.Resumed{}, console.ErrUnknownProvider
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resumes = append(s.resumes, name)
	was := s.halted && name == "corp"
	s.halted = false
	return console.Resumed{WasHalted: was, Requeued: 7}, nil
}

func (s *source) Check(_ context.Context, name string) (console.Checked, error) {
	if name != "corp" && name != "licensing" {
		return console.Checked{}, console.ErrUnknownProvider
	}
	s.mu.Lock()
	s.checks = append(s.checks, name)
	s.mu.Unlock()
	return console.Checked{OK: true, Lines: []string{"token: client_credentials grant from realm corp"},
		Warnings: []string{"events are off"}}, nil
}

const (
	viewerToken   = "viewer-token-0123456789ab"
	operatorToken = "operator-token-0123456789"
)

type world struct {
	src  *source
	srv  *httptest.Server
	logs *bytes.Buffer
}

func setup(t *testing.T) *world {
	w := &world{src: &source{halted: true}, logs: &bytes.Buffer{}}
	log := slog.New(slog.NewTextHandler(w.logs, nil))
	h := listener.Handler(listener.Options{Gatherer: prometheus.NewRegistry(),
		Console: console.New(console.Config{Source: w.src, Logger: log}),
		Auth:    listener.Auth{Token: operatorToken, Viewers: []listener.Credential{{Name: "noc", Token: viewerToken}}}})
	w.srv = httptest.NewServer(h)
	t.Cleanup(w.srv.Close)
	return w
}

// do makes a request as the holder of token; a POST comes from the
// console's own page unless site says otherwise.
func (w *world) do(t *testing.T, method, path, token, site string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, w.srv.URL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if site != "" {
		req.Header.Set("Sec-Fetch-Site", site)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b), res.Header
}

func TestAViewerSeesAHaltedProviderAndWhatToFix(t *testing.T) {
	t.Parallel()
	w := setup(t)
	status, body, h := w.do(t, "GET", "/console/", viewerToken, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "no-store", h.Get("Cache-Control"))
	for _, want := range []string{"corp", "halted", "credentials_rejected: invalid_client", "rotate the client secret",
		"1200", "licensing", "healthy", "unlimited", "noc · viewer", `http-equiv="refresh"`} {
		require.Contains(t, body, want)
	}
	require.NotContains(t, body, "<form", "a viewer gets no buttons")
	require.NotContains(t, body, "https://", "nothing from the internet")
	require.NotContains(t, body, "<script", "the page works without JavaScript")

	status, _, _ = w.do(t, "GET", "/console/", "", "")
	require.Equal(t, http.StatusUnauthorized, status)
	status, css, h := w.do(t, "GET", "/console/static/console.css", viewerToken, "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, h.Get("Content-Type"), "text/css")
	require.Contains(t, css, "section.provider")
}

func TestTheOperatorResumesAHaltedProvider(t *testing.T) {
	t.Parallel()
	w := setup(t)
	_, body, _ := w.do(t, "GET", "/console/", operatorToken, "")
	require.Contains(t, body, `action="/console/providers/corp/resume"`)
	require.NotContains(t, body, `action="/console/providers/licensing/resume"`, "only a halted provider has Resume")
	require.Contains(t, body, `action="/console/providers/licensing/check"`)

	status, _, h := w.do(t, "POST", "/console/providers/corp/resume", operatorToken, "same-origin")
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, []string{"corp"}, w.src.resumes)
	require.Contains(t, w.logs.String(), "by=operator provider=corp was_halted=true requeued=7", "logged with who did it")
	_, body, _ = w.do(t, "GET", h.Get("Location"), operatorToken, "")
	require.Contains(t, body, "Resumed corp: 7 task(s) put back in its queue.")
	require.NotContains(t, body, "state halted")
}

func TestAViewerCannotAct(t *testing.T) {
	t.Parallel()
	w := setup(t)
	for _, action := range []string{"resume", "check"} {
		status, body, _ := w.do(t, "POST", "/console/providers/corp/"+action, viewerToken, "same-origin")
		require.Equal(t, http.StatusForbidden, status, action)
		require.Contains(t, body, "Only the operator may do this")
	}
	require.Empty(t, w.src.resumes)
	require.Empty(t, w.src.checks)
}

func TestAnotherSiteCannotActThroughTheOperatorsBrowser(t *testing.T) {
	t.Parallel()
	w := setup(t)
	status, _, _ := w.do(t, "POST", "/console/providers/corp/resume", operatorToken, "cross-site")
	require.Equal(t, http.StatusForbidden, status)
	require.Empty(t, w.src.resumes)
}

func TestCheckNow(t *testing.T) {
	t.Parallel()
	w := setup(t)
	status, body, _ := w.do(t, "POST", "/console/providers/licensing/check", operatorToken, "same-origin")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "licensing is ready.")
	require.Contains(t, body, "token: client_credentials grant from realm corp")
	require.Contains(t, body, "events are off")
	require.Contains(t, w.logs.String(), "by=operator provider=licensing ok=true")

	status, _, _ = w.do(t, "POST", "/console/providers/nobody/check", operatorToken, "same-origin")
	require.Equal(t, http.StatusNotFound, status)
}

// A notice names only a configured provider: a link cannot make the page
// say something else.
func TestNoticesCannotBeInjected(t *testing.T) {
	t.Parallel()
	w := setup(t)
	_, body, _ := w.do(t, "GET", "/console/?resumed=%3Cscript%3Ealert(1)%3C/script%3E&requeued=3", operatorToken, "")
	require.NotContains(t, body, "alert(1)")
	require.NotContains(t, body, "Resumed")
	_, body, _ = w.do(t, "GET", "/console/?resumed=licensing&was=no", operatorToken, "")
	require.True(t, strings.Contains(body, "licensing was not halted: nothing to resume."))
}
