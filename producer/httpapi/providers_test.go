package httpapi_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/producer/httpapi"
	"github.com/resetq/resetq/webhook"
)

// resumedEvents counts the provider.resumed events a halt.Service emits.
type resumedEvents struct {
	mu sync.Mutex
	n  int
}

func (e *resumedEvents) Emit(_ context.Context, ev webhook.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ev.Type == webhook.ProviderResumed {
		e.n++
	}
	return nil
}

func (e *resumedEvents) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

func TestAnOperatorReadsAHaltAndResumesTheProviderThroughTheAPI(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	events := &resumedEvents{}
	halts := halt.NewService(rdb, events, nil)
	client, err := producer.NewClient(producer.Config{Redis: rdb, Providers: []producer.Provider{{Name: "corp", Type: "keycloak"}}})
	require.NoError(t, err)
	e := serve(t, httpapi.Config{Client: client, Halts: halts})

	since := time.Now().UTC().Truncate(time.Second)
	_, err = halts.Halt(ctx, halt.State{Provider: "corp", Reason: "credentials_rejected", Hint: "check auth.client_secret",
		Message: "PUT /admin/realms/corp/users/0d6f/execute-actions-email: 401", Since: since})
	require.NoError(t, err)

	code, h, b := e.json(t, http.MethodGet, "/v1/providers/corp/halt", appToken, nil)
	require.Equal(t, http.StatusForbidden, code, "an application's token does not steer providers")
	require.Equal(t, "urn:resetq:problem:forbidden", problem(t, h, b).Type)
	code, _, _ = e.json(t, http.MethodPost, "/v1/providers/corp/resume", appToken, nil)
	require.Equal(t, http.StatusForbidden, code)
	require.Zero(t, events.count())

	code, _, b = e.json(t, http.MethodGet, "/v1/providers/corp/halt", opsToken, nil)
	require.Equal(t, http.StatusOK, code)
	got := decode[httpapi.ProviderHalt](t, b)
	require.Equal(t, httpapi.ProviderHalt{Provider: "corp", Halted: true, Reason: "credentials_rejected",
		Hint: "check auth.client_secret", Since: &since}, got)
	require.NotContains(t, string(b), "0d6f", "the halt's message, which can name a user, is not sent")

	code, h, _ = e.json(t, http.MethodGet, "/v1/providers/corp/resume", opsToken, nil)
	require.Equal(t, http.StatusMethodNotAllowed, code)
	require.Equal(t, "POST", h.Get("Allow"))

	code, _, b = e.json(t, http.MethodPost, "/v1/providers/corp/resume", opsToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, httpapi.ProviderResumed{Provider: "corp", WasHalted: true, Reason: "credentials_rejected", Since: &since},
		decode[httpapi.ProviderResumed](t, b))
	require.Equal(t, 1, events.count(), "provider.resumed emitted")

	code, _, b = e.json(t, http.MethodPost, "/v1/providers/corp/resume", opsToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.False(t, decode[httpapi.ProviderResumed](t, b).WasHalted, "resuming a running provider changes nothing")
	require.Equal(t, 1, events.count(), "and emits nothing")

	code, _, b = e.json(t, http.MethodGet, "/v1/providers/corp/halt", opsToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, httpapi.ProviderHalt{Provider: "corp"}, decode[httpapi.ProviderHalt](t, b))

	code, h, b = e.json(t, http.MethodGet, "/v1/providers/Not_A_Name/halt", opsToken, nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "urn:resetq:problem:not-found", problem(t, h, b).Type)
}

func TestWithoutHaltsTheProviderRoutesAreNotServed(t *testing.T) {
	t.Parallel()
	e := setup(t, 0)
	code, h, b := e.json(t, http.MethodGet, "/v1/providers/corp/halt", opsToken, nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "urn:resetq:problem:not-found", problem(t, h, b).Type)
}
