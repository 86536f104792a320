package realidp

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
)

// realmE2E is the realm the real-server tests and the devstack create:
// resetq's client and its variants (view-only, no service account,
// audited), a public client, and users for each case resetq meets (a
// disabled one, one without an email, a plus-tagged and a non-ASCII
// address, two addresses differing only in case, 300 plain ones).
//
//go:embed testdata/realm-e2e.json
var realmE2E []byte

// The secrets of realm-e2e.json's confidential clients.
const (
	E2EClientSecret        = "e2e-resetq-secret-1"
	E2EViewerClientSecret  = "e2e-resetq-viewer-secret-1"
	E2ENoSAClientSecret    = "e2e-resetq-nosa-secret-1"
	E2EAuditedClientSecret = "e2e-resetq-audited-secret-1"
	// E2EAlicePassword is alice's password.
	E2EAlicePassword = "alice-old-Passw0rd"
)

// SMTP is where a realm sends its mail.
type SMTP struct {
	Host string
	Port int
	// From is the sender; empty keeps the realm's (resetq-e2e@example.org).
	From string
}

// E2ERealm returns the test realm's JSON (testdata/realm-e2e.json, a
// RealmRepresentation) named name, sending mail through smtp.
func E2ERealm(name string, smtp SMTP) []byte {
	var realm map[string]any
	if err := json.Unmarshal(realmE2E, &realm); err != nil {
		panic(fmt.Sprintf("realidp: the embedded testdata/realm-e2e.json is not JSON: %v", err))
	}
	realm["realm"] = name
	server, _ := realm["smtpServer"].(map[string]any)
	if server == nil {
		server = map[string]any{}
	}
	// Keycloak keeps the SMTP settings as a map of strings.
	server["host"] = smtp.Host
	server["port"] = strconv.Itoa(smtp.Port)
	if smtp.From != "" {
		server["from"] = smtp.From
	}
	realm["smtpServer"] = server
	b, err := json.Marshal(realm)
	if err != nil {
		panic(fmt.Sprintf("realidp: encoding the test realm: %v", err))
	}
	return b
}
