//go:build e2e

package realidp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/freeport"
	"github.com/resetq/resetq/internal/testhttp"
)

func TestMain(m *testing.M) { Main(m) }

// newRealm creates a fresh copy of the test realm, deleted when the test
// ends, and returns its name.
func newRealm(t *testing.T, kc *Keycloak, smtp SMTP) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "t-" + hex.EncodeToString(b)
	require.NoError(t, kc.CreateRealm(t.Context(), E2ERealm(name, smtp)))
	t.Cleanup(func() {
		if err := kc.DeleteRealm(context.Background(), name); err != nil {
			t.Errorf("deleting realm %s: %v", name, err)
		}
	})
	return name
}

// closedPort is an SMTP address nobody listens on: Keycloak templates a
// mail before it connects, so a templating failure shows first.
func closedPort(t *testing.T) SMTP {
	t.Helper()
	port, err := freeport.Loopback()
	require.NoError(t, err)
	return SMTP{Host: "127.0.0.1", Port: port}
}

func clientToken(t *testing.T, kc *Keycloak, realm, clientID, secret string) string {
	t.Helper()
	tok, err := kc.Token(t.Context(), realm, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret},
	})
	require.NoError(t, err)
	return tok.AccessToken
}

// getAs sends GET path with token and returns the status and body.
func getAs(t *testing.T, kc *Keycloak, token, path string) (int, []byte) {
	t.Helper()
	a := testhttp.Do(t, http.MethodGet, kc.URL()+path, "", "Authorization", "Bearer "+token)
	return a.Status, []byte(a.Body)
}

type user struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email"`
}

func TestKeycloakFetchIsIdempotent(t *testing.T) {
	t.Parallel()
	first, err := FetchKeycloak(t.Context(), KeycloakVersion)
	require.NoError(t, err)
	fi, err := os.Stat(filepath.Join(first, "bin", "kc.sh"))
	require.NoError(t, err)
	require.NotZero(t, fi.Mode()&0o100, "kc.sh keeps its exec bit")

	start := time.Now()
	again, err := FetchKeycloak(t.Context(), KeycloakVersion)
	require.NoError(t, err)
	require.Equal(t, first, again)
	require.Less(t, time.Since(start), 5*time.Second, "a cached distribution is not downloaded again")
}

func TestKeycloakTheE2ERealmLetsResetqListUsers(t *testing.T) {
	t.Parallel()
	kc := TestKeycloak(t)
	realm := newRealm(t, kc, closedPort(t))
	token := clientToken(t, kc, realm, "resetq", E2EClientSecret)

	status, body := getAs(t, kc, token, "/admin/realms/"+realm+"/users?exact=true&email=alice@example.org")
	require.Equal(t, http.StatusOK, status, "%s", body)
	var users []user
	require.NoError(t, json.Unmarshal(body, &users))
	require.Len(t, users, 1)
	require.Equal(t, "alice", users[0].Username)

	// The view-only account may list users too; a client without a service
	// account gets no token.
	viewer := clientToken(t, kc, realm, "resetq-viewer", E2EViewerClientSecret)
	status, _ = getAs(t, kc, viewer, "/admin/realms/"+realm+"/users?max=1")
	require.Equal(t, http.StatusOK, status)
	_, err := kc.Token(t.Context(), realm, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"resetq-nosa"}, "client_secret": {E2ENoSAClientSecret},
	})
	var adminErr *AdminError
	require.ErrorAs(t, err, &adminErr)
	require.Equal(t, http.StatusUnauthorized, adminErr.Status, "%v", err)
	require.Contains(t, adminErr.Body, "unauthorized_client")

	// The users that pin down what Keycloak does with odd addresses.
	for username, email := range map[string]string{
		"jurgen": "jürgen@example.org",
		"twin-a": "twin@example.org", // stored lower-cased
		"twin-b": "twin@example.org",
	} {
		status, body = getAs(t, kc, token, "/admin/realms/"+realm+"/users?exact=true&username="+username)
		require.Equal(t, http.StatusOK, status, "%s", body)
		require.NoError(t, json.Unmarshal(body, &users))
		require.Len(t, users, 1, username)
		require.Equal(t, email, users[0].Email, username)
	}
	status, body = getAs(t, kc, token, "/admin/realms/"+realm+"/users?exact=true&email=Twin@example.org")
	require.Equal(t, http.StatusOK, status, "%s", body)
	require.NoError(t, json.Unmarshal(body, &users))
	require.Len(t, users, 2, "an exact email search ignores case and finds both twins")

	status, body = getAs(t, kc, token, "/admin/realms/"+realm+"/users/count")
	require.Equal(t, http.StatusOK, status, "%s", body)
	require.Equal(t, "307", string(body), "7 named users and 300 plain ones; service accounts are not counted")
}

func TestKeycloakRevokeTokensRefusesOlderTokensOnly(t *testing.T) {
	t.Parallel()
	kc := TestKeycloak(t)
	realm := newRealm(t, kc, closedPort(t))
	path := "/admin/realms/" + realm + "/users?max=1"
	old := clientToken(t, kc, realm, "resetq", E2EClientSecret)
	status, _ := getAs(t, kc, old, path)
	require.Equal(t, http.StatusOK, status)

	require.NoError(t, kc.RevokeTokens(t.Context(), realm))

	status, body := getAs(t, kc, old, path)
	require.Equal(t, http.StatusUnauthorized, status, "a token issued before the revocation: %s", body)
	fresh := clientToken(t, kc, realm, "resetq", E2EClientSecret)
	status, body = getAs(t, kc, fresh, path)
	require.Equal(t, http.StatusOK, status, "a token issued after it: %s", body)
}

func TestKeycloakBrokenThemeFailsToTemplate(t *testing.T) {
	t.Parallel()
	kc := TestKeycloak(t)
	realm := newRealm(t, kc, closedPort(t))
	require.NoError(t, kc.UpdateRealm(t.Context(), realm, map[string]any{"emailTheme": "resetq-broken"}))
	id, err := kc.UserID(t.Context(), realm, "alice")
	require.NoError(t, err)

	status, body, err := kc.Do(t.Context(), http.MethodPut,
		"/admin/realms/"+realm+"/users/"+id+"/execute-actions-email", []string{"UPDATE_PASSWORD"})
	require.NoError(t, err)
	require.Equal(t, http.StatusInternalServerError, status, "%s", body)
	require.JSONEq(t, `{"errorMessage":"Failed to send execute actions email: Failed to template email"}`, string(body))
}

func TestKeycloakAddUsersImportsManyUsers(t *testing.T) {
	t.Parallel()
	kc := TestKeycloak(t)
	realm := newRealm(t, kc, closedPort(t))
	const n = 10000 // 100 batches, 4 at a time
	users := make([]map[string]any, n)
	for i := range users {
		name := fmt.Sprintf("bulk%05d", i)
		users[i] = map[string]any{"username": name, "email": name + "@example.org", "enabled": true,
			"emailVerified": true, "firstName": "Bulk", "lastName": name}
	}
	start := time.Now()
	require.NoError(t, kc.AddUsers(t.Context(), realm, users))
	took := time.Since(start)
	t.Logf("AddUsers: %d users in %s (%.0f/s)", n, took.Round(time.Millisecond), n/took.Seconds())

	status, body, err := kc.Do(t.Context(), http.MethodGet, "/admin/realms/"+realm+"/users/count", nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, fmt.Sprint(307+n), string(body))

	// Adding them again skips them all.
	require.NoError(t, kc.AddUsers(t.Context(), realm, users[:10]))
	id, err := kc.UserID(t.Context(), realm, "bulk04999")
	require.NoError(t, err)
	require.NotEmpty(t, id)
}

func TestKeycloakAdminErrorsCarryStatusAndBody(t *testing.T) {
	t.Parallel()
	kc := TestKeycloak(t)
	err := kc.DeleteRealm(t.Context(), "t-does-not-exist")
	var adminErr *AdminError
	require.True(t, errors.As(err, &adminErr), "%v", err)
	require.Equal(t, http.StatusNotFound, adminErr.Status)
	require.True(t, strings.HasPrefix(err.Error(), "Keycloak admin API: DELETE /admin/realms/t-does-not-exist: 404 Not Found: "), err.Error())
}

func TestKeycloakAdminHelpersChangeClientsUsersAndRecordEvents(t *testing.T) {
	t.Parallel()
	kc := TestKeycloak(t)
	realm := newRealm(t, kc, closedPort(t))
	ctx := t.Context()
	require.NoError(t, kc.UpdateRealm(ctx, realm, map[string]any{"adminEventsEnabled": true, "adminEventsDetailsEnabled": true}))

	// A new secret: the old one is refused at once.
	secret, err := kc.RegenerateSecret(ctx, realm, "resetq")
	require.NoError(t, err)
	require.NotEqual(t, E2EClientSecret, secret)
	_, err = kc.Token(ctx, realm, url.Values{"grant_type": {"client_credentials"}, "client_id": {"resetq"}, "client_secret": {E2EClientSecret}})
	var adminErr *AdminError
	require.ErrorAs(t, err, &adminErr)
	require.Equal(t, http.StatusUnauthorized, adminErr.Status)
	clientToken(t, kc, realm, "resetq", secret)

	// A client patched to have a service account gets a token.
	require.NoError(t, kc.UpdateClient(ctx, realm, "resetq-nosa", map[string]any{"serviceAccountsEnabled": true}))
	clientToken(t, kc, realm, "resetq-nosa", E2ENoSAClientSecret)

	// A user patched: the rest of the representation is kept.
	id, err := kc.UserID(ctx, realm, "dave")
	require.NoError(t, err)
	require.NoError(t, kc.UpdateUser(ctx, realm, id, map[string]any{"enabled": true}))
	status, body, err := kc.Do(ctx, http.MethodGet, "/admin/realms/"+realm+"/users/"+id, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	var dave map[string]any
	require.NoError(t, json.Unmarshal(body, &dave))
	require.Equal(t, true, dave["enabled"])
	require.Equal(t, "dave@example.org", dave["email"])

	events, err := kc.AdminEvents(ctx, realm, url.Values{"operationTypes": {"UPDATE"}, "resourceTypes": {"USER"}})
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.Equal(t, "users/"+id, events[0]["resourcePath"])

	_, err = kc.UserID(ctx, realm, "nobody")
	require.EqualError(t, err, "realm "+realm+` has no user "nobody"`)
}
