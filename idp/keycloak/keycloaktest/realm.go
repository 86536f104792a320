package keycloaktest

import (
	"strings"
	"time"
)

// Admin roles on a realm's realm-management client (or, from master, on the
// "<realm>-realm" client). RoleAdmin is the master realm's "admin" role,
// which holds every admin role on every realm.
const (
	RoleQueryUsers  = "query-users"
	RoleViewUsers   = "view-users"
	RoleManageUsers = "manage-users"
	RoleViewEvents  = "view-events"
	RoleRealmAdmin  = "realm-admin"
	RoleAdmin       = "admin"
)

// SMTPMode is how a realm's mail sending behaves.
type SMTPMode int

// SMTP modes.
const (
	// SMTPOn: mail is sent and execute-actions-email answers 204.
	SMTPOn SMTPMode = iota
	// SMTPOff: the realm has no SMTP server configured; Keycloak 26 answers
	// 500 "Failed to send execute actions email: Invalid sender address 'null'. …".
	SMTPOff
	// SMTPOffLegacy: no SMTP server, as Keycloak up to about 24 reports it:
	// the bare text "Failed to send execute actions email".
	SMTPOffLegacy
	// SMTPUnreachable: SMTP is configured but the relay cannot be reached
	// (or refuses Keycloak's login, or throttles: Keycloak cannot tell them
	// apart); Keycloak answers 500 "… Error when attempting to send the
	// email to the server. …".
	SMTPUnreachable
	// SMTPTemplateError: the realm's email theme cannot render the mail;
	// Keycloak answers 500 "… Failed to template email".
	SMTPTemplateError
)

// DefaultRequiredActions are the required-action provider ids enabled in a
// fresh Keycloak 26 realm.
var DefaultRequiredActions = []string{
	"UPDATE_PASSWORD", "VERIFY_EMAIL", "UPDATE_PROFILE", "UPDATE_EMAIL",
	"CONFIGURE_TOTP", "TERMS_AND_CONDITIONS", "CONFIGURE_RECOVERY_AUTHN_CODES",
	"VERIFY_PROFILE", "delete_account", "delete_credential",
	"webauthn-register", "webauthn-register-passwordless",
}

// Realm is one emulated realm. Change it only through the Server's methods
// (or inside Server.Update), which hold the lock.
type Realm struct {
	Name string
	// TokenLifespan is the access token lifetime (expires_in). Master
	// defaults to 60 s, other realms to 300 s.
	TokenLifespan time.Duration
	// RefreshLifespan is refresh_expires_in for password grants (1800 s).
	RefreshLifespan time.Duration
	// ActionTokenLifespan is the default lifetime of the link in an
	// execute-actions email (12 h).
	ActionTokenLifespan time.Duration
	SMTP                SMTPMode
	// AllowUTF8 lets mail go to addresses with a non-ASCII local part
	// (Realm settings → Email → Allow UTF-8); without it Keycloak refuses
	// them before it connects.
	AllowUTF8 bool
	// RefusedRecipients are addresses the relay refuses (a 550 for that
	// mailbox): Keycloak answers with the same 500 as a relay that is down.
	RefusedRecipients map[string]bool
	// BruteForceProtected blocks concurrent password grants for one user,
	// as Keycloak 26 does by default when brute-force detection is on.
	BruteForceProtected bool
	// RequiredActions are the action ids the realm accepts.
	RequiredActions []string
	// AdminEventsEnabled records admin events (Realm settings → Events →
	// Admin events settings): an ACTION event for each execute-actions
	// email sent.
	AdminEventsEnabled bool

	adminEvents []adminEvent

	clients    map[string]*Client
	users      map[string]*User    // by id
	order      []string            // user ids in creation order
	byEmail    map[string][]string // lower-cased email -> ids
	byUsername map[string]string   // lower-cased username -> id
}

// Client is an OAuth client of a realm.
type Client struct {
	ClientID string
	// Secret is empty for public clients.
	Secret                string
	Public                bool
	Enabled               bool
	ServiceAccountEnabled bool
	DirectAccessGrants    bool
	// RedirectURIs are the allowed redirect URIs; a trailing "*" matches any
	// suffix, as in Keycloak.
	RedirectURIs []string
	// Grants are the service account's admin roles, by target realm name.
	Grants map[string][]string
	// ServiceAccountDisabled: the client's service-account user is
	// disabled, and Keycloak refuses it a token.
	ServiceAccountDisabled bool
}

// User is a user of a realm.
type User struct {
	ID              string
	Username        string
	Email           string
	FirstName       string
	LastName        string
	Enabled         bool
	EmailVerified   bool
	Password        string
	RequiredActions []string
	// Grants are the user's admin roles, by target realm name (used when the
	// user is itself an admin that takes a password grant).
	Grants    map[string][]string
	CreatedAt time.Time
}

func newRealm(name string) *Realm {
	lifespan := 300 * time.Second
	if name == "master" {
		lifespan = 60 * time.Second
	}
	return &Realm{
		Name:                name,
		TokenLifespan:       lifespan,
		RefreshLifespan:     1800 * time.Second,
		ActionTokenLifespan: 12 * time.Hour,
		RequiredActions:     append([]string(nil), DefaultRequiredActions...),
		clients:             map[string]*Client{},
		users:               map[string]*User{},
		byEmail:             map[string][]string{},
		byUsername:          map[string]string{},
	}
}

// adminEvent is one recorded admin event, as the admin-events list shows it.
type adminEvent struct {
	ID            string `json:"id"`
	Time          int64  `json:"time"`
	RealmID       string `json:"realmId"`
	OperationType string `json:"operationType"`
	ResourceType  string `json:"resourceType"`
	ResourcePath  string `json:"resourcePath"`
}

// userByUsername finds a user by username, which Keycloak stores lower-cased.
func (r *Realm) userByUsername(name string) *User {
	return r.users[r.byUsername[strings.ToLower(name)]]
}

func (r *Realm) hasAction(a string) bool {
	for _, x := range r.RequiredActions {
		if x == a {
			return true
		}
	}
	return false
}

// redirectAllowed matches Keycloak's redirect URI rules closely enough for
// tests: exact match, or prefix match for patterns ending in "*".
func (c *Client) redirectAllowed(uri string) bool {
	for _, p := range c.RedirectURIs {
		if p == uri || p == "*" || strings.HasSuffix(p, "*") && strings.HasPrefix(uri, strings.TrimSuffix(p, "*")) {
			return true
		}
	}
	return false
}

// roles expands composite roles: realm-admin and admin hold all, manage-users
// implies view, view implies query.
type roles struct{ query, view, manage, events bool }

func expand(granted []string) roles {
	var r roles
	for _, g := range granted {
		switch g {
		case RoleAdmin, RoleRealmAdmin:
			r.manage, r.view, r.query, r.events = true, true, true, true
		case RoleViewEvents:
			r.events = true
		case RoleManageUsers:
			r.manage, r.view, r.query = true, true, true
		case RoleViewUsers:
			r.view, r.query = true, true
		case RoleQueryUsers:
			r.query = true
		}
	}
	return r
}
