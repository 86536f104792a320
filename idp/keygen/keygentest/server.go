package keygentest

import (
	"cmp"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/resetq/resetq/idp/internal/emulator"
)

// Request is one request the emulator received, with its answer.
type Request = emulator.Request

// Fault makes matching requests fail before Keygen would see them. An empty
// Body gets a JSON:API error for the status, or a proxy's page for 429.
type Fault = emulator.Fault

// Endpoint names the routes the emulator serves.
type Endpoint = emulator.Endpoint

// Endpoints, each with the route it names under /v1/accounts/{account}.
const (
	EndpointAny              Endpoint = emulator.Any        // every route, in a Fault
	EndpointPasswords        Endpoint = "passwords"         // POST …/passwords, which asks for a reset
	EndpointTokens           Endpoint = "tokens"            // POST …/tokens, which mints a token
	EndpointUser             Endpoint = "user"              // GET …/users/{id}
	EndpointMe               Endpoint = "me"                // GET …/me
	EndpointResetPassword    Endpoint = "reset-password"    // POST …/users/{id}/actions/reset-password
	EndpointToken            Endpoint = "token"             // DELETE …/tokens/{id}, which revokes a token
	EndpointWebhookEndpoints Endpoint = "webhook-endpoints" // GET …/webhook-endpoints
	EndpointUnknown          Endpoint = "unknown"           // any other path or method
)

// Editions.
const (
	// EditionCE has no environments: a Keygen-Environment header is a 400.
	EditionCE = "CE"
	// EditionEE has environments.
	EditionEE = "EE"
)

// Token kinds.
const (
	KindAdmin       = "admin-token"
	KindProduct     = "product-token"
	KindUser        = "user-token"
	KindEnvironment = "environment-token"
)

// APIVersion is the newest API version the emulator speaks.
const APIVersion = "1.8"

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	// Base holds the loopback server (URL), the request log and the
	// fault knobs: SetLatency, SlowAnswers, Inject, FailNext,
	// RateLimitEvery, ClearFaults, Requests, RequestsTo.
	*emulator.Base
	key  ed25519.PrivateKey
	hook *http.Client

	mu          sync.Mutex
	edition     string
	accounts    map[string]*Account // by id and by slug
	throttles   map[string]*window
	noThrottle  bool
	maxRPS      int
	maxRPM      int
	mintedLife  time.Duration
	resets      []Reset
	mints       int
	deliveries  []Delivery
	webhookWait sync.WaitGroup
	retries     int
	backoff     time.Duration
}

// Account is one Keygen account.
type Account struct {
	ID   string
	Slug string
	// Protected accounts do not let managed users (role user, no password)
	// set their first password through a reset.
	Protected bool
	// Environments are the codes of an Enterprise Edition account's
	// environments.
	Environments []string

	users     map[string]*User // by id
	byEmail   map[string]string
	tokens    map[string]*Token // by token string
	products  map[string]string // id -> name
	endpoints []*WebhookEndpoint
}

// WebhookEndpoint is where Keygen sends an account's webhook events.
type WebhookEndpoint struct {
	ID  string
	URL string
	// Subscriptions are event names, or "*" for all. Keygen empties them
	// when it disables an endpoint (a 410 answer).
	Subscriptions []string
	// Product, when set, scopes the endpoint to a product: it gets user
	// events only for users with role user.
	Product string
	// Environment is the code of the environment the endpoint belongs to;
	// events match it strictly.
	Environment string
}

func (e *WebhookEndpoint) subscribed(event string) bool {
	return slices.Contains(e.Subscriptions, "*") || slices.Contains(e.Subscriptions, event)
}

// User is a user of an account.
type User struct {
	ID        string
	Email     string
	FirstName string
	LastName  string
	// Role is user (the default), admin, developer, sales-agent,
	// support-agent or read-only.
	Role     string
	Password string
	Banned   bool
	// Environment is the code of the environment the user belongs to, or
	// empty for a global user.
	Environment string

	resetHash   string
	resetSentAt time.Time
	Created     time.Time
}

// Token is an API token.
type Token struct {
	ID     string
	Value  string
	Kind   string
	Bearer string // user or product id
	// Expiry is when the token stops working; zero means never.
	Expiry time.Time
	Name   string
	// Revoked tokens are kept for Tokens' sake but no longer work.
	Revoked bool
}

// Reset is one accepted POST …/passwords.
type Reset struct {
	Time    time.Time
	Account string
	Email   string
	Deliver bool
	// Known is false for an address no user has: Keygen answers 204
	// anyway, and nothing happens.
	Known bool
	// Token is the raw reset token a known user got. It is a secret.
	Token string
}

// Delivery is one attempt to deliver a webhook.
type Delivery struct {
	Time     time.Time
	Event    string
	EventID  string
	Endpoint string // the endpoint's id
	Attempt  int
	Status   int
	Err      string
	// Failed marks the last attempt of an event that was never delivered
	// (Keygen's status FAILED): retries ran out, or the error is one
	// Keygen never retries, such as a refused connection.
	Failed bool
}

// Option configures a Server.
type Option func(*Server)

// WithClock replaces time.Now, for tests of token expiry and throttles.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.Now = now } }

// NewServer starts an emulator on a loopback port with no accounts.
func NewServer(opts ...Option) *Server {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	s := &Server{
		Base:       emulator.NewBase(defaultBody),
		edition:    EditionCE,
		key:        key,
		hook:       &http.Client{Timeout: 15 * time.Second},
		accounts:   map[string]*Account{},
		throttles:  map[string]*window{},
		mintedLife: 14 * 24 * time.Hour, // Token::TOKEN_DURATION
		retries:    3,
		backoff:    100 * time.Millisecond,
	}
	for _, o := range opts {
		o(s)
	}
	s.Serve(s.serve)
	return s
}

// Close waits for webhook deliveries in flight and shuts the server down.
func (s *Server) Close() {
	s.WaitForWebhooks()
	s.Base.Close()
}

// WaitForWebhooks returns once every webhook delivery started so far has
// ended: delivered, or failed for good.
func (s *Server) WaitForWebhooks() { s.webhookWait.Wait() }

// PublicKey verifies the Keygen-Signature of the emulator's webhooks.
func (s *Server) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// AddAccount creates an account; its ID is generated when empty.
func (s *Server) AddAccount(a Account) *Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	acct := a
	acct.ID = cmp.Or(acct.ID, emulator.NewID())
	acct.users, acct.byEmail = map[string]*User{}, map[string]string{}
	acct.tokens, acct.products = map[string]*Token{}, map[string]string{}
	s.accounts[acct.ID] = &acct
	if acct.Slug != "" {
		s.accounts[acct.Slug] = &acct
	}
	return &acct
}

// Update runs fn with the lock held, for changing accounts and users while
// requests are served.
func (s *Server) Update(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn()
}

// AddUser adds a user to an account and returns its id. The email is
// stored lower-cased, as Keygen does.
func (s *Server) AddUser(a *Account, u User) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	uu := u
	uu.ID = cmp.Or(uu.ID, emulator.NewID())
	if uu.Role == "" {
		uu.Role = "user"
	}
	uu.Email = strings.ToLower(uu.Email)
	if uu.Created.IsZero() {
		uu.Created = s.Now()
	}
	a.users[uu.ID] = &uu
	a.byEmail[uu.Email] = uu.ID
	return uu.ID
}

// AddToken gives a user or product a token of the kind and returns its
// secret. A zero expiry never expires, as admin tokens by default.
func (s *Server) AddToken(a *Account, kind, bearer string, expiry time.Time) string {
	return emulator.Locked(&s.mu, func() string { return s.addToken(a, kind, bearer, expiry, "") })
}

func (s *Server) addToken(a *Account, kind, bearer string, expiry time.Time, name string) string {
	prefix := map[string]string{KindAdmin: "admin", KindProduct: "prod", KindUser: "user", KindEnvironment: "env"}[kind]
	t := &Token{ID: emulator.NewID(), Value: prefix + "-" + randomHex(32) + "v3", Kind: kind, Bearer: bearer, Expiry: expiry, Name: name}
	a.tokens[t.Value] = t
	return t.Value
}

// AddAdmin adds an admin user with a password and returns an admin token
// for it that never expires.
func (s *Server) AddAdmin(a *Account, email, password string) string {
	id := s.AddUser(a, User{Email: email, Password: password, Role: "admin", FirstName: "Admin"})
	return s.AddToken(a, KindAdmin, id, time.Time{})
}

// AddProduct adds a product and returns a product token for it.
func (s *Server) AddProduct(a *Account, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := emulator.NewID()
	a.products[id] = name
	return s.addToken(a, KindProduct, id, time.Time{}, "")
}

// SetPassword changes a user's password.
func (s *Server) SetPassword(a *Account, email, password string) {
	s.Update(func() {
		if u := a.users[a.byEmail[strings.ToLower(email)]]; u != nil {
			u.Password = password
		}
	})
}

// SetWebhook makes url the account's one webhook endpoint, subscribed to
// user.password-reset.
func (s *Server) SetWebhook(a *Account, url string) {
	s.Update(func() { a.endpoints = nil })
	s.AddWebhookEndpoint(a, WebhookEndpoint{URL: url, Subscriptions: []string{"user.password-reset"}})
}

// AddWebhookEndpoint adds a webhook endpoint and returns its id.
func (s *Server) AddWebhookEndpoint(a *Account, e WebhookEndpoint) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ee := e
	ee.ID = cmp.Or(ee.ID, emulator.NewID())
	ee.Subscriptions = slices.Clone(e.Subscriptions)
	a.endpoints = append(a.endpoints, &ee)
	return ee.ID
}

// RemoveWebhookEndpoints deletes every webhook endpoint of the account.
func (s *Server) RemoveWebhookEndpoints(a *Account) { s.Update(func() { a.endpoints = nil }) }

// SetEdition makes the server Community (EditionCE, the default) or
// Enterprise Edition (EditionEE, with environments).
func (s *Server) SetEdition(edition string) { s.Update(func() { s.edition = edition }) }

// SetWebhookRetries sets how many times a failed delivery is retried and
// the first wait (doubling); Keygen retries 15 times over days, the
// emulator compresses that.
func (s *Server) SetWebhookRetries(n int, backoff time.Duration) {
	s.Update(func() { s.retries, s.backoff = n, backoff })
}

// SetMintedTokenLife sets the default expiry of tokens minted with Basic
// auth by users with role user (2 weeks, Token::TOKEN_DURATION). Staff
// tokens minted without an expiry never expire, as Keygen's.
func (s *Server) SetMintedTokenLife(d time.Duration) { s.Update(func() { s.mintedLife = d }) }

// DisableThrottles turns rack-attack off, as NO_RACK_ATTACK does.
func (s *Server) DisableThrottles() { s.Update(func() { s.noThrottle = true }) }

// SetRequestLimits turns on the per-IP request limits Keygen takes from
// RACK_ATTACK_MAX_RPS and RACK_ATTACK_MAX_RPM (0 leaves one off).
func (s *Server) SetRequestLimits(perSecond, perMinute int) {
	s.Update(func() { s.maxRPS, s.maxRPM = perSecond, perMinute })
}

// ExpireAllTokens makes every token issued so far expired.
func (s *Server) ExpireAllTokens() {
	s.Update(func() {
		past := s.Now().Add(-time.Second)
		for id, a := range s.accounts {
			if id != a.ID {
				continue // the slug's entry
			}
			for _, t := range a.tokens {
				t.Expiry = past
			}
		}
	})
}

// Resets returns every accepted reset request, oldest first.
func (s *Server) Resets() []Reset {
	return emulator.Locked(&s.mu, func() []Reset { return slices.Clone(s.resets) })
}

// ResetCount is how many resets were requested for an email (ignoring
// case), known or not.
func (s *Server) ResetCount(email string) int {
	return emulator.Count(s.Resets(), func(r Reset) bool { return strings.EqualFold(r.Email, email) })
}

// Emails counts the reset emails Keygen would have sent (known users,
// deliver not false).
func (s *Server) Emails() int {
	n := 0
	for _, r := range s.Resets() {
		if r.Known && r.Deliver {
			n++
		}
	}
	return n
}

// TokenMints counts tokens minted with Basic auth.
func (s *Server) TokenMints() int {
	return emulator.Locked(&s.mu, func() int { return s.mints })
}

// Deliveries returns every webhook delivery attempt.
func (s *Server) Deliveries() []Delivery {
	return emulator.Locked(&s.mu, func() []Delivery { return slices.Clone(s.deliveries) })
}

// LiveTokens returns the account's tokens that still work: not revoked, not
// expired.
func (s *Server) LiveTokens(a *Account) []Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Token
	now := s.Now()
	for _, t := range a.tokens {
		if !t.Revoked && (t.Expiry.IsZero() || now.Before(t.Expiry)) {
			out = append(out, *t)
		}
	}
	return out
}

// RevokeToken revokes a token by its secret, as an operator would in the
// dashboard.
func (s *Server) RevokeToken(a *Account, value string) {
	s.Update(func() {
		if t := a.tokens[value]; t != nil {
			t.Revoked = true
		}
	})
}

// Tokens returns every token secret of an account, revoked ones included,
// for tests that scan output for leaks.
func (s *Server) Tokens(a *Account) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for v := range a.tokens {
		out = append(out, v)
	}
	return out
}
