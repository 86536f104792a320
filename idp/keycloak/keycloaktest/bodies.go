package keycloaktest

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// writeJSON writes v with Keycloak's content type for the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	ct := "application/json"
	if status >= 200 && status < 300 {
		ct = "application/json;charset=UTF-8"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// The four error body shapes of keycloak.md §7.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func proseError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func errorMessage(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"errorMessage": msg})
}

func unknownError(w http.ResponseWriter, status int) {
	oauthError(w, status, "unknown_error", "For more on this error consult the server log.")
}

// defaultBody is what Keycloak answers for an injected status: its
// unknown_error shape for 5xx, JAX-RS prose otherwise.
func defaultBody(w http.ResponseWriter, status int) {
	if status >= 500 {
		unknownError(w, status)
		return
	}
	proseError(w, status, fmt.Sprintf("HTTP %d %s", status, http.StatusText(status)))
}
