package keycloaktest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// realmFile is the part of a RealmRepresentation (a realm export, or the
// file `kc.sh start --import-realm` reads) that the emulator models.
type realmFile struct {
	Realm              string            `json:"realm"`
	AdminEventsEnabled bool              `json:"adminEventsEnabled"`
	SMTPServer         map[string]string `json:"smtpServer"`
	Clients            []struct {
		ClientID                  string   `json:"clientId"`
		Secret                    string   `json:"secret"`
		Enabled                   *bool    `json:"enabled"`
		PublicClient              bool     `json:"publicClient"`
		ServiceAccountsEnabled    bool     `json:"serviceAccountsEnabled"`
		DirectAccessGrantsEnabled bool     `json:"directAccessGrantsEnabled"`
		RedirectURIs              []string `json:"redirectUris"`
	} `json:"clients"`
	Users []struct {
		Username               string              `json:"username"`
		Email                  string              `json:"email"`
		FirstName              string              `json:"firstName"`
		LastName               string              `json:"lastName"`
		Enabled                bool                `json:"enabled"`
		EmailVerified          bool                `json:"emailVerified"`
		RequiredActions        []string            `json:"requiredActions"`
		ServiceAccountClientID string              `json:"serviceAccountClientId"`
		ClientRoles            map[string][]string `json:"clientRoles"`
		Credentials            []struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"credentials"`
	} `json:"users"`
}

// ImportRealm creates a realm from a realm JSON file, as Keycloak's import
// does: its clients, its users and their passwords, its service accounts'
// roles on realm-management, its SMTP settings (none: SMTPOff) and whether
// it records admin events. The real-server tests create their realm from
// the same file, so emulator and server start alike. It fails when the
// realm exists.
func (s *Server) ImportRealm(b []byte) error {
	var f realmFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("keycloaktest: the realm file is not a RealmRepresentation: %w", err)
	}
	if f.Realm == "" {
		return errors.New("keycloaktest: the realm file names no realm")
	}
	s.mu.Lock()
	_, exists := s.realms[f.Realm]
	s.mu.Unlock()
	if exists {
		return fmt.Errorf("keycloaktest: realm %q exists", f.Realm)
	}
	r := s.AddRealm(f.Realm)
	s.Update(func() {
		r.AdminEventsEnabled = f.AdminEventsEnabled
		r.AllowUTF8 = f.SMTPServer["allowutf8"] == "true"
		if f.SMTPServer["host"] == "" || f.SMTPServer["from"] == "" {
			r.SMTP = SMTPOff
		}
	})
	accounts := map[string][]string{} // client id -> its service account's roles
	for _, u := range f.Users {
		if u.ServiceAccountClientID != "" {
			accounts[u.ServiceAccountClientID] = u.ClientRoles["realm-management"]
			continue
		}
		user := User{Username: u.Username, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName,
			Enabled: u.Enabled, EmailVerified: u.EmailVerified, RequiredActions: u.RequiredActions}
		for _, c := range u.Credentials {
			if strings.EqualFold(c.Type, "password") {
				user.Password = c.Value
			}
		}
		s.AddUser(f.Realm, user)
	}
	// The clients every new realm gets; the file's may replace them.
	for _, id := range []string{"account", "account-console", "admin-cli", "security-admin-console"} {
		s.AddClient(f.Realm, Client{ClientID: id, Public: true, Enabled: true, DirectAccessGrants: id == "admin-cli"})
	}
	for _, c := range f.Clients {
		enabled := c.Enabled == nil || *c.Enabled
		cl := Client{ClientID: c.ClientID, Secret: c.Secret, Public: c.PublicClient, Enabled: enabled,
			ServiceAccountEnabled: c.ServiceAccountsEnabled, DirectAccessGrants: c.DirectAccessGrantsEnabled,
			RedirectURIs: c.RedirectURIs}
		if roles, ok := accounts[c.ClientID]; ok {
			cl.Grants = map[string][]string{f.Realm: roles}
		}
		s.AddClient(f.Realm, cl)
	}
	return nil
}

// SetServiceAccountEnabled enables or disables a client's service-account
// user.
func (s *Server) SetServiceAccountEnabled(realm, clientID string, on bool) {
	s.Update(func() { s.realms[realm].clients[clientID].ServiceAccountDisabled = !on })
}

// SetAllowUTF8 sets a realm's Allow UTF-8 mail setting.
func (s *Server) SetAllowUTF8(realm string, on bool) {
	s.Update(func() { s.realms[realm].AllowUTF8 = on })
}
