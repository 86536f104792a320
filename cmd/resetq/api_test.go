package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
