package keycloak

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// Grants resetq can take an admin token with.
const (
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
)

// Config configures a Provider.
type Config struct {
	// BaseURL is the server's root, with a /auth prefix where the server
	// has one: https://sso.example.com or https://old.example.com/auth.
	BaseURL string
	// Realm is the realm whose users are reset.
	Realm string

	// Grant is GrantClientCredentials (the default) or GrantPassword.
	Grant string
	// TokenRealm issues the token; it defaults to Realm. A token from
	// master can manage other realms.
	TokenRealm string
	// ClientID defaults to admin-cli for the password grant.
	ClientID     string
	ClientSecret string
	Username     string
	Password     string

	// Actions are sent when a request names none; default UPDATE_PASSWORD.
	Actions []string
	// Lifespan of the emailed link; 0 leaves Keycloak's realm default (12 h).
	Lifespan time.Duration
	// LinkClientID and RedirectURI put a "back to application" link after
	// the actions; RedirectURI requires LinkClientID.
	LinkClientID string
	RedirectURI  string

	// Timeout bounds each HTTP call but the reset (default 30 s).
	Timeout time.Duration
	// ResetTimeout bounds the execute-actions-email call (default
	// DefaultResetTimeout). Keycloak sends the mail inside that call and
	// finishes it even when the client has given up, so the client must
	// outwait Keycloak's own worst case or the mail goes out twice.
	ResetTimeout time.Duration
	// HTTPClient makes the calls; requests carry idp.Operation tags for
	// instrumentation. Default: a client with a pooled transport.
	HTTPClient *http.Client
	// UserAgent is sent on every request.
	UserAgent string
}

// DefaultResetTimeout outlasts Keycloak's own worst case for one
// execute-actions email at its default SMTP timeouts (10 s for the connect
// and for each read and write): connect, greeting, EHLO, STARTTLS and EHLO
// again, two AUTH steps, MAIL, RCPT, DATA, the message, the final dot and
// QUIT are 13 waits of up to 10 s, 130 s in all, plus Keycloak's own work.
// A realm whose SMTP timeouts were raised (Keycloak 26.5+) needs more.
const DefaultResetTimeout = 150 * time.Second

// Provider sends resets through one Keycloak realm. It is safe for
// concurrent use.
type Provider struct {
	cfg    Config
	base   string
	client *apiclient.Client
	tokens *apiclient.TokenCache[*oauth2.Token]
	events eventsProbe
}

var _ idp.Provider = (*Provider)(nil)
var _ idp.Checker = (*Provider)(nil)

// Accepts is what Keycloak finds a user by: an id directly, an email or a
// username by an exact search.
const Accepts = idp.AnyUserRef

// New checks cfg and returns a Provider. It makes no request.
func New(cfg Config) (*Provider, error) {
	cfg.withDefaults()
	base, err := apiclient.BaseURL("keycloak", cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, base: base, client: &apiclient.Client{
		HTTP: cfg.HTTPClient, MediaType: "application/json", UserAgent: cfg.UserAgent, Timeout: cfg.Timeout,
		Secrets: []string{cfg.ClientSecret, cfg.Password},
	}}
	p.tokens = &apiclient.TokenCache[*oauth2.Token]{Fetch: p.fetchToken, Timeout: cfg.Timeout}
	return p, nil
}

func (p *Provider) tokenRealm() string { return p.cfg.TokenRealm }

func (p *Provider) tokenURL() string {
	return p.base + "/realms/" + url.PathEscape(p.cfg.TokenRealm) + "/protocol/openid-connect/token"
}

func (p *Provider) adminURL(path string, q url.Values) string {
	u := p.base + "/admin/realms/" + url.PathEscape(p.cfg.Realm) + path
	if len(q) > 0 {
		u += "?" + q.Encode() // Encode writes "+" as %2B, as Keycloak needs.
	}
	return u
}

// admin makes one admin API call with a valid token. A 401 gets one more
// try with a freshly fetched token; a second 401 means Keycloak rejects
// what it just issued, which no retry will fix.
func (p *Provider) admin(ctx context.Context, op, method, rawURL string, payload []byte) (*apiclient.Response, error) {
	r := apiclient.Request{Op: op, Method: method, URL: rawURL, Body: payload}
	if op == idp.OpReset {
		r.Timeout = p.cfg.ResetTimeout
	}
	resp, err := apiclient.WithToken(ctx, p.client, p.tokens, func(t *oauth2.Token) string { return t.AccessToken }, r)
	if err != nil || resp.Status != http.StatusUnauthorized {
		return resp, err
	}
	_, msg := parseBody(resp.Body)
	return nil, &idp.Error{Kind: idp.Credentials, Op: op, Status: resp.Status, Message: msg,
		Hint: fmt.Sprintf("Keycloak answers 401 to a token realm %q just issued: the token realm cannot "+
			"administer realm %q, or a proxy strips the Authorization header", p.cfg.TokenRealm, p.cfg.Realm)}
}

func (c *Config) withDefaults() {
	if c.Grant == "" {
		c.Grant = GrantClientCredentials
	}
	if c.Grant == GrantPassword && c.ClientID == "" {
		c.ClientID = "admin-cli"
	}
	if c.TokenRealm == "" {
		c.TokenRealm = c.Realm
	}
	if len(c.Actions) == 0 {
		c.Actions = []string{"UPDATE_PASSWORD"}
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.ResetTimeout <= 0 {
		c.ResetTimeout = DefaultResetTimeout
	}
	if c.UserAgent == "" {
		c.UserAgent = "resetq"
	}
}

// validate checks the settings that depend on one another: the grant and
// its credentials, the link settings.
func (c *Config) validate() error {
	switch {
	case c.Realm == "":
		return errors.New("keycloak: realm is required")
	case c.Grant != GrantClientCredentials && c.Grant != GrantPassword:
		return fmt.Errorf("keycloak: unknown grant %q", c.Grant)
	case c.Grant == GrantClientCredentials && (c.ClientID == "" || c.ClientSecret == ""):
		return errors.New("keycloak: client_credentials needs a client id and secret")
	case c.Grant == GrantPassword && (c.Username == "" || c.Password == ""):
		return errors.New("keycloak: the password grant needs a username and password")
	case c.RedirectURI != "" && c.LinkClientID == "":
		return errors.New("keycloak: a redirect URI needs a link client id")
	}
	return nil
}
