//go:build e2e

package realidp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// call makes one JSON request and returns the status and the body.
func call(t *testing.T, k *Kratos, method, url string, body any) (int, map[string]any) {
	t.Helper()
	status, b, err := k.Do(t.Context(), url, method, body)
	require.NoError(t, err)
	var out map[string]any
	if len(b) > 0 && b[0] == '{' {
		require.NoError(t, json.Unmarshal(b, &out), string(b))
	}
	return status, out
}

// TestKratosRecoveryByCodeEndToEnd drives Kratos' API recovery flow the
// way the kratos provider does, reads the code from the real mail and
// completes the recovery with it: what a user does.
func TestKratosRecoveryByCodeEndToEnd(t *testing.T) {
	t.Parallel()
	k, m := NewTestKratos(t, KratosConfig{})
	ctx := t.Context()
	_, err := k.CreateIdentity(ctx, "alice@example.org")
	require.NoError(t, err)

	code, flow := call(t, k, http.MethodGet, k.PublicURL()+"/self-service/recovery/api", nil)
	require.Equal(t, http.StatusOK, code, flow)
	id, _ := flow["id"].(string)
	require.NotEmpty(t, id)
	require.Equal(t, "choose_method", flow["state"])

	code, sent := call(t, k, http.MethodPost, k.PublicURL()+"/self-service/recovery?flow="+id,
		map[string]string{"method": "code", "email": "alice@example.org"})
	require.Equal(t, http.StatusOK, code, sent)
	require.Equal(t, "sent_email", sent["state"])

	msgs, err := m.WaitFor(ctx, "to:alice@example.org", 1)
	require.NoError(t, err)
	text, _, err := m.Body(ctx, msgs[0].ID)
	require.NoError(t, err)
	six := regexp.MustCompile(`\b\d{6}\b`).FindString(text)
	require.NotEmpty(t, six, "a six-digit code in the mail:\n%s", text)

	code, done := call(t, k, http.MethodPost, k.PublicURL()+"/self-service/recovery?flow="+id,
		map[string]string{"method": "code", "code": six})
	// An API flow that passed its challenge answers 422 and sends the
	// user on to the settings flow, where the new password is set.
	require.Equal(t, http.StatusUnprocessableEntity, code, done)
	require.Equal(t, "browser_location_change_required", done["error"].(map[string]any)["id"], done)
	require.Contains(t, done["redirect_browser_to"], "/settings?flow=")

	// An unknown address: the same 200, and no mail.
	code, flow = call(t, k, http.MethodGet, k.PublicURL()+"/self-service/recovery/api", nil)
	require.Equal(t, http.StatusOK, code)
	code, sent = call(t, k, http.MethodPost, k.PublicURL()+"/self-service/recovery?flow="+flow["id"].(string),
		map[string]string{"method": "code", "email": "nobody@example.org"})
	require.Equal(t, http.StatusOK, code, sent)
	require.Equal(t, "sent_email", sent["state"])

	// A malformed address: 400 with the field's message.
	code, flow = call(t, k, http.MethodGet, k.PublicURL()+"/self-service/recovery/api", nil)
	require.Equal(t, http.StatusOK, code)
	code, bad := call(t, k, http.MethodPost, k.PublicURL()+"/self-service/recovery?flow="+flow["id"].(string),
		map[string]string{"method": "code", "email": "not-an-address"})
	require.Equal(t, http.StatusBadRequest, code, bad)
	require.Equal(t, "choose_method", bad["state"], "the flow itself comes back, its email field marked")
	require.Contains(t, fmt.Sprint(bad["ui"]), "4.000001e+06", "message id 4000001: not a valid email")

	// An unknown flow.
	code, gone := call(t, k, http.MethodPost, k.PublicURL()+"/self-service/recovery?flow=8f1e3c52-6a0b-4f64-9d8e-2b1c7e5a9f30",
		map[string]string{"method": "code", "email": "alice@example.org"})
	require.Equal(t, http.StatusNotFound, code, gone)
	require.Contains(t, gone["error"].(map[string]any)["reason"], "restart the flow")

	// The courier's record of what it sent.
	require.Eventually(t, func() bool {
		list, err := k.CourierMessages(ctx)
		require.NoError(t, err)
		for _, msg := range list {
			if msg.Recipient == "alice@example.org" && msg.Status == "sent" {
				return true
			}
		}
		return false
	}, 30*time.Second, 200*time.Millisecond, "the courier lists alice's mail as sent")
	list, err := k.CourierMessages(ctx)
	require.NoError(t, err)
	for _, msg := range list {
		require.Equal(t, "alice@example.org", msg.Recipient, "nothing is mailed to an unknown address")
		require.Equal(t, "recovery_code_valid", msg.TemplateID)
	}
}

// TestKratosRefusesAMethodItDoesNotUse pins down what a server whose
// recovery uses links answers to a code: the flow comes back with message
// 4010005, no strategy to recover with.
func TestKratosRefusesAMethodItDoesNotUse(t *testing.T) {
	t.Parallel()
	k, _ := NewTestKratos(t, KratosConfig{Method: "link"})
	code, flow := call(t, k, http.MethodGet, k.PublicURL()+"/self-service/recovery/api", nil)
	require.Equal(t, http.StatusOK, code, flow)
	require.Equal(t, "link", flow["active"])
	code, refused := call(t, k, http.MethodPost, k.PublicURL()+"/self-service/recovery?flow="+flow["id"].(string),
		map[string]string{"method": "code", "email": "alice@example.org"})
	require.Equal(t, http.StatusBadRequest, code, refused)
	require.Contains(t, fmt.Sprint(refused["ui"]), "4.010005e+06")
}
