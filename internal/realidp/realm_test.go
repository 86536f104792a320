package realidp

import (
	"encoding/json"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/kcschema"
)

func decodeRealm(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var realm map[string]any
	require.NoError(t, json.Unmarshal(b, &realm))
	return realm
}

func TestTheE2ERealmIsARealmRepresentation(t *testing.T) {
	t.Parallel()
	schema, err := kcschema.Realm()
	require.NoError(t, err)

	realm := decodeRealm(t, E2ERealm("t-schema", SMTP{Host: "127.0.0.1", Port: 2525}))
	require.NoError(t, schema.VisitJSON(realm, openapi3.MultiErrors()), "against Keycloak 26.6's RealmRepresentation")

	// A typo is caught.
	bad := map[string]any{"realm": "corp", "users": []any{map[string]any{"username": "x", "emial": "x@example.com"}}}
	require.Error(t, schema.VisitJSON(bad))
}

func TestE2ERealmSetsTheNameAndTheSMTPServer(t *testing.T) {
	t.Parallel()
	realm := decodeRealm(t, E2ERealm("t-42", SMTP{Host: "127.0.0.2", Port: 2525}))
	require.Equal(t, "t-42", realm["realm"])
	require.Equal(t, map[string]any{
		"host": "127.0.0.2", "port": "2525", "from": "resetq-e2e@example.org", "fromDisplayName": "resetq e2e",
		"auth": "false", "ssl": "false", "starttls": "false",
	}, realm["smtpServer"])

	realm = decodeRealm(t, E2ERealm("t-43", SMTP{Host: "mail", Port: 25, From: "it@corp.example"}))
	require.Equal(t, "it@corp.example", realm["smtpServer"].(map[string]any)["from"])

	// The embedded file is not changed by a call.
	require.Equal(t, "corp", decodeRealm(t, realmE2E)["realm"])
}

func TestTheE2ERealmHoldsEveryCaseTheTestsNeed(t *testing.T) {
	t.Parallel()
	realm := decodeRealm(t, realmE2E)
	require.Equal(t, true, realm["duplicateEmailsAllowed"])
	require.Equal(t, false, realm["loginWithEmailAllowed"], "Keycloak refuses duplicate emails with login by email")

	clients := map[string]map[string]any{}
	for _, c := range realm["clients"].([]any) {
		m := c.(map[string]any)
		clients[m["clientId"].(string)] = m
	}
	for id, secret := range map[string]string{"resetq": E2EClientSecret, "resetq-viewer": E2EViewerClientSecret,
		"resetq-nosa": E2ENoSAClientSecret, "resetq-audited": E2EAuditedClientSecret} {
		require.Equal(t, secret, clients[id]["secret"], id)
		require.Equal(t, false, clients[id]["publicClient"], id)
	}
	require.Equal(t, false, clients["resetq-nosa"]["serviceAccountsEnabled"])
	require.Equal(t, true, clients["web"]["publicClient"])
	require.Equal(t, true, clients["web"]["directAccessGrantsEnabled"])

	roles := map[string][]any{}
	users := map[string]map[string]any{}
	for _, u := range realm["users"].([]any) {
		m := u.(map[string]any)
		users[m["username"].(string)] = m
		if sa, ok := m["serviceAccountClientId"].(string); ok {
			roles[sa] = m["clientRoles"].(map[string]any)["realm-management"].([]any)
		}
	}
	require.Equal(t, map[string][]any{
		"resetq":         {"manage-users"},
		"resetq-viewer":  {"view-users"},
		"resetq-audited": {"manage-users", "view-events"},
	}, roles)

	require.Equal(t, false, users["dave"]["enabled"])
	require.NotContains(t, users["erin"], "email")
	require.Equal(t, "jürgen@example.org", users["jurgen"]["email"])
	require.Equal(t, "Twin@example.org", users["twin-a"]["email"])
	require.Equal(t, "twin@example.org", users["twin-b"]["email"])
	require.Equal(t, E2EAlicePassword, users["alice"]["credentials"].([]any)[0].(map[string]any)["value"])
	require.Equal(t, "user300@example.org", users["user300"]["email"])
	require.Len(t, users, 3+7+300)
	for name, u := range users {
		if _, sa := u["serviceAccountClientId"]; !sa {
			require.Equal(t, true, u["emailVerified"], name)
			require.NotEmpty(t, u["firstName"], name)
			require.NotEmpty(t, u["lastName"], name)
		}
	}
}
