package keycloaktest

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/resetq/resetq/idp/internal/emulator"
)

// AllRealms is the Grants key that grants roles on every realm.
const AllRealms = "*"

// Well-known credentials of a new Server's master realm.
const (
	MasterAdminUser     = "admin"
	MasterAdminPassword = "admin"
)

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	// Base holds the loopback server (Close), the request log and the
	// fault knobs: SetLatency, SlowAnswers, Inject, FailNext,
	// RateLimitEvery, ClearFaults, Requests, RequestsTo.
	*emulator.Base
	prefix string

	mu       sync.Mutex
	realms   map[string]*Realm
	tokens   map[string]*token
	refresh  map[string]*token
	mails    []Mail
	resets   map[string]int // user id -> execute-actions-email successes
	inFlight map[string]int // password grants in flight, by realm/user
	requests int
	tokenReq int
	curToken int
	maxToken int
	issued   []string
}

// Request is one request the emulator received, with its answer.
type Request = emulator.Request

// Fault makes matching requests fail before Keycloak would see them, as a
// broken server or a proxy in front of it would. An empty Body gets
// Keycloak's unknown_error shape for 5xx and a proxy's page for 429.
type Fault = emulator.Fault

// Endpoint names the routes the emulator serves, for faults and the log.
type Endpoint = emulator.Endpoint

// Option configures a Server.
type Option func(*Server)

// WithPathPrefix serves everything under prefix, as old WildFly builds and
// servers started with --http-relative-path=/auth do.
func WithPathPrefix(prefix string) Option {
	return func(s *Server) { s.prefix = strings.TrimSuffix(prefix, "/") }
}

// WithClock replaces time.Now, for tests that control token expiry.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.Now = now } }

// NewServer starts an emulator on a loopback port. Its master realm has the
// public admin-cli client and an admin user (MasterAdminUser /
// MasterAdminPassword) holding the admin role on every realm.
func NewServer(opts ...Option) *Server {
	s := &Server{
		Base:     emulator.NewBase(defaultBody),
		realms:   map[string]*Realm{},
		tokens:   map[string]*token{},
		refresh:  map[string]*token{},
		resets:   map[string]int{},
		inFlight: map[string]int{},
	}
	for _, o := range opts {
		o(s)
	}
	m := s.AddRealm("master")
	m.clients["admin-cli"] = &Client{ClientID: "admin-cli", Public: true, Enabled: true, DirectAccessGrants: true}
	s.addUser(m, User{Username: MasterAdminUser, Password: MasterAdminPassword, Enabled: true,
		Grants: map[string][]string{AllRealms: {RoleAdmin}}})
	s.Serve(s.serve)
	return s
}

// URL is the base URL to configure resetq with, including any path prefix.
func (s *Server) URL() string { return s.Base.URL() + s.prefix }

// AddRealm creates (or returns) a realm with Keycloak's defaults.
func (s *Server) AddRealm(name string) *Realm {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.realms[name]; ok {
		return r
	}
	r := newRealm(name)
	s.realms[name] = r
	return r
}

// Update runs fn with the lock held, for changing realm settings, clients
// and users while requests are served.
func (s *Server) Update(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn()
}

// AddClient adds an OAuth client to a realm. A confidential client with a
// service account is what resetq uses in production.
func (s *Server) AddClient(realm string, c Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cc := c
	s.realms[realm].clients[c.ClientID] = &cc
}

// AddUser adds a user to a realm and returns its id. The username is stored
// lower-cased, as Keycloak does; an empty username becomes the email.
func (s *Server) AddUser(realm string, u User) string {
	return emulator.Locked(&s.mu, func() string { return s.addUser(s.realms[realm], u) })
}

func (s *Server) addUser(r *Realm, u User) string {
	uu := u
	uu.ID = cmp.Or(uu.ID, emulator.NewID())
	if uu.Username == "" {
		uu.Username = uu.Email
	}
	uu.Username = strings.ToLower(uu.Username)
	uu.Email = strings.ToLower(uu.Email)
	if uu.CreatedAt.IsZero() {
		uu.CreatedAt = s.Now()
	}
	r.users[uu.ID] = &uu
	r.order = append(r.order, uu.ID)
	if uu.Email != "" {
		r.byEmail[uu.Email] = append(r.byEmail[uu.Email], uu.ID)
	}
	r.byUsername[uu.Username] = uu.ID
	return uu.ID
}

// UserID returns the id of the user with that username in realm, or "".
func (s *Server) UserID(realm, username string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.realms[realm].userByUsername(username); u != nil {
		return u.ID
	}
	return ""
}

// SetSMTP switches a realm's mail sending.
func (s *Server) SetSMTP(realm string, mode SMTPMode) {
	s.Update(func() { s.realms[realm].SMTP = mode })
}

// RefuseRecipient makes the realm's relay refuse mail to one address (a
// 550 for that mailbox), as Keycloak reports it: the 500 of a relay that is
// down.
func (s *Server) RefuseRecipient(realm, email string) {
	s.Update(func() {
		r := s.realms[realm]
		if r.RefusedRecipients == nil {
			r.RefusedRecipients = map[string]bool{}
		}
		r.RefusedRecipients[strings.ToLower(email)] = true
	})
}

// SetAdminEvents turns a realm's admin events on or off.
func (s *Server) SetAdminEvents(realm string, on bool) {
	s.Update(func() { s.realms[realm].AdminEventsEnabled = on })
}

// SetTokenLifespan sets a realm's access token lifetime.
func (s *Server) SetTokenLifespan(realm string, d time.Duration) {
	s.Update(func() { s.realms[realm].TokenLifespan = d })
}

// ExpireAllTokens makes every access and refresh token issued so far invalid,
// as if their lifetime had passed.
func (s *Server) ExpireAllTokens() {
	s.Update(func() {
		for _, t := range s.tokens {
			t.expires = time.Time{}
		}
		for _, t := range s.refresh {
			t.expires = time.Time{}
		}
	})
}

// TokenRequests counts requests to token endpoints.
func (s *Server) TokenRequests() int {
	return emulator.Locked(&s.mu, func() int { return s.tokenReq })
}

// MaxConcurrentTokenRequests is the largest number of token requests that
// were in flight at once.
func (s *Server) MaxConcurrentTokenRequests() int {
	return emulator.Locked(&s.mu, func() int { return s.maxToken })
}

// IssuedTokens returns every access token issued, oldest first. Tests use it
// to check the bearer resetq sent and to scan output for leaked tokens.
func (s *Server) IssuedTokens() []string {
	return emulator.Locked(&s.mu, func() []string { return slices.Clone(s.issued) })
}

// IssuedTokensIn returns the access tokens issued by one realm, oldest
// first (expired ones included).
func (s *Server) IssuedTokensIn(realm string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, v := range s.issued {
		if t := s.tokens[v]; t != nil && t.realm == realm {
			out = append(out, v)
		}
	}
	return out
}

// ResetCount is how many execute-actions emails were sent to a user.
func (s *Server) ResetCount(userID string) int {
	return emulator.Locked(&s.mu, func() int { return s.resets[userID] })
}

// TotalResets is how many execute-actions emails were sent in all.
func (s *Server) TotalResets() int {
	return emulator.Locked(&s.mu, func() int { return len(s.mails) })
}

// Mail is one email the emulator "sent".
type Mail struct {
	Time        time.Time
	Realm       string
	UserID      string
	To          string
	Actions     []string
	Lifespan    time.Duration
	ClientID    string
	RedirectURI string
	// Link is the action link the email would carry. It is a secret: it
	// lets whoever holds it set the user's password.
	Link string
}

// Mails returns the emails sent so far.
func (s *Server) Mails() []Mail {
	return emulator.Locked(&s.mu, func() []Mail { return slices.Clone(s.mails) })
}

// Endpoints, each with the route it names (after any path prefix; … is
// /admin/realms/{realm}).
const (
	EndpointAny            Endpoint = emulator.Any            // every route, in a Fault
	EndpointToken          Endpoint = "token"                 // POST /realms/{realm}/protocol/openid-connect/token
	EndpointUsers          Endpoint = "users"                 // GET /admin/realms/{realm}/users
	EndpointUsersCount     Endpoint = "users-count"           // GET …/users/count
	EndpointUser           Endpoint = "user"                  // GET …/users/{id}
	EndpointExecuteActions Endpoint = "execute-actions-email" // PUT …/users/{id}/execute-actions-email
	EndpointResetPassword  Endpoint = "reset-password"        // PUT …/users/{id}/reset-password
	EndpointResetEmail     Endpoint = "reset-password-email"  // PUT …/users/{id}/reset-password-email
	EndpointEventsConfig   Endpoint = "events-config"         // GET /admin/realms/{realm}/events/config
	EndpointAdminEvents    Endpoint = "admin-events"          // GET /admin/realms/{realm}/admin-events
	EndpointUnknown        Endpoint = "unknown"               // any other path, or a known one with another method
)

// Endpoints lists every endpoint a Fault can name, EndpointAny first.
var Endpoints = []Endpoint{EndpointAny, EndpointToken, EndpointUsers, EndpointUsersCount, EndpointUser,
	EndpointExecuteActions, EndpointResetPassword, EndpointResetEmail, EndpointEventsConfig, EndpointAdminEvents,
	EndpointUnknown}

// Stats summarises what the emulator has seen, for `resetq dev`.
type Stats struct {
	Requests, TokenRequests, Resets int
}

// Stats returns counters.
func (s *Server) Stats() Stats {
	return emulator.Locked(&s.mu, func() Stats { return Stats{Requests: s.requests, TokenRequests: s.tokenReq, Resets: len(s.mails)} })
}
