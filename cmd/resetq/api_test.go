package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/producer/httpapi"
	"github.com/resetq/resetq/tasks"
)

const apiToken = "e2e-api-token-0123456789abcdef"

func postReset(t *testing.T, base, email string) (int, httpapi.ResetAccepted) {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/v1/resets", strings.NewReader(`{"provider":"corp","user":{"email":"`+email+`"}}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var acc httpapi.ResetAccepted
	_ = json.NewDecoder(res.Body).Decode(&acc)
	return res.StatusCode, acc
}

func TestAPICommandServesResetsUntilStopped(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	b := setup(t, settings{top: "api:\n  listen: " + addr + "\n  tokens: [{name: app, token: " + apiToken + ", scopes: [resets]}]\n"})
	api := startCommand(t, addr, "api", "--config", b.path)

	code, acc := postReset(t, "http://"+addr, b.sample.Emails[0])
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, tasks.Succeeded, b.wait(acc.ID, 10*time.Second).Outcome)
	require.Equal(t, exitOK, api.stop(), api.errb.String())
	errb := api.errb.String()
	require.Contains(t, errb, `"msg":"resetq api started"`)
	require.Contains(t, errb, `"msg":"api request"`)
	require.NotContains(t, errb, apiToken, "the token is never logged")
	require.NotContains(t, errb, b.sample.Emails[0], "nor the user")
}

// An operator's token reads a provider's halt and resumes it through the
// binary's halt service: the halt is lifted in Redis, and its message
// (which can name a user) never leaves.
func TestAPICommandResumesAHaltedProvider(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	b := setup(t, settings{noWorker: true, top: "api:\n  listen: " + addr +
		"\n  tokens: [{name: ops, token: " + apiToken + ", scopes: [campaigns]}]\n"})
	startCommand(t, addr, "api", "--config", b.path)
	_, err := halt.New(b.rdb).Halt(context.Background(), halt.State{Provider: "corp", Reason: "credentials_rejected",
		Hint: "check auth.client_secret", Message: "401 for user 0d6f", Since: time.Now()})
	require.NoError(t, err)

	call := func(method, path string) (int, string) {
		req, err := http.NewRequest(method, "http://"+addr+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+apiToken)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, string(body)
	}
	code, body := call(http.MethodGet, "/v1/providers/corp/halt")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"halted":true`)
	require.Contains(t, body, `"reason":"credentials_rejected"`)
	require.NotContains(t, body, "0d6f")

	code, body = call(http.MethodPost, "/v1/providers/corp/resume")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"was_halted":true`)
	st, err := halt.New(b.rdb).Get(context.Background(), "corp")
	require.NoError(t, err)
	require.Nil(t, st, "the halt is lifted")

	for _, r := range [][2]string{{http.MethodGet, "/v1/providers/okta/halt"}, {http.MethodPost, "/v1/providers/okta/resume"}} {
		code, body = call(r[0], r[1])
		require.Equal(t, http.StatusNotFound, code, "%s %s: okta is not configured: %s", r[0], r[1], body)
		require.Contains(t, body, "provider okta is not configured")
	}
}

func TestAPIWithoutTokensRefusesToStart(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{noWorker: true, top: "api: {listen: \"" + freeAddr(t) + "\"}\n"})
	code, _, errOut := b.cli("api")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "api.tokens: at least one token is required to serve the API")
}

func TestTheWorkerCanServeTheAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, settings{top: "api:\n  in_worker: true\n  tokens: [{token: " + apiToken + ", scopes: [resets]}]\n"})
	base := "http://" + b.w.listener.Addr
	code, acc := postReset(t, base, b.sample.Emails[1])
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, tasks.Succeeded, b.wait(acc.ID, 10*time.Second).Outcome)
	res, err := http.Get(base + "/v1/resets/" + acc.ID)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
}
