package keygen

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// Defaults.
const (
	DefaultBaseURL    = "https://api.keygen.sh"
	DefaultAPIVersion = "1.8"
	// DefaultTokenExpiry is the life of a token minted with a password.
	DefaultTokenExpiry = time.Hour
	mediaType          = "application/vnd.api+json"
)

// Config configures a Provider.
type Config struct {
	// BaseURL is Keygen Cloud's (the default) or a self-hosted server's.
	BaseURL string
	// Account is the account's id or slug.
	Account string
	// Token is an admin or product token. When it is empty, Email and
	// Password mint one.
	Token    string
	Email    string
	Password string
	// TokenExpiry is the life of a minted token (default 1 h). Keygen gives
	// an admin's token no expiry of its own, so without one every token a
	// killed process lost track of would stay valid for good.
	TokenExpiry time.Duration
	// Environment is an Enterprise Edition environment's code or id, sent
	// as Keygen-Environment on every authenticated call. Without it, a
	// lookup sees only the users outside every environment.
	Environment string
	// Deliver false asks Keygen to send no email and only fire its
	// user.password-reset webhook; the provider then refuses to work
	// while no webhook endpoint of the account subscribes to that event.
	Deliver bool
	// VerifyUser looks the user up first, so an unknown email is reported
	// skipped/user_not_found instead of Keygen's silent 204. It needs a
	// token that sees every user; a product token sees only role user.
	VerifyUser bool
	// APIVersion is sent as Keygen-Version (default 1.8).
	APIVersion string
	// Timeout bounds each HTTP call (default 30 s).
	Timeout    time.Duration
	HTTPClient *http.Client
	UserAgent  string
}

// Provider sends resets through one Keygen account. It is safe for
// concurrent use.
type Provider struct {
	cfg    Config
	base   string
	client *apiclient.Client
	// adminHeader is sent on admin calls.
	adminHeader http.Header
	minted      *apiclient.TokenCache[mintedToken] // nil with a static token
	held        heldTokens
	pre         preflight
}

var (
	_ idp.Provider = (*Provider)(nil)
	_ idp.Checker  = (*Provider)(nil)
	_ idp.Releaser = (*Provider)(nil)
)

// Accepts is what Keygen finds a user by: its forgot-password call takes an
// email and nothing else.
const Accepts = idp.ByEmail

// New checks cfg and returns a Provider. It makes no request.
func New(cfg Config) (*Provider, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "resetq"
	}
	if cfg.TokenExpiry <= 0 {
		cfg.TokenExpiry = DefaultTokenExpiry
	}
	base, err := apiclient.BaseURL("keygen", cfg.BaseURL)
	switch {
	case err != nil:
		return nil, err
	case cfg.Account == "":
		return nil, errors.New("keygen: account is required")
	case cfg.Token == "" && (cfg.Email == "" || cfg.Password == ""):
		return nil, errors.New("keygen: a token, or an email and password to mint one, is required")
	case cfg.Token != "" && cfg.Email != "":
		return nil, errors.New("keygen: give a token or an email and password, not both")
	}
	p := &Provider{cfg: cfg, base: base, client: &apiclient.Client{
		HTTP: cfg.HTTPClient, MediaType: mediaType, UserAgent: cfg.UserAgent, Timeout: cfg.Timeout,
		Header:  http.Header{"Keygen-Version": {cfg.APIVersion}},
		Secrets: []string{cfg.Token, cfg.Password},
	}}
	if cfg.Environment != "" {
		p.adminHeader = http.Header{"Keygen-Environment": {cfg.Environment}}
	}
	if cfg.Token == "" {
		p.minted = &apiclient.TokenCache[mintedToken]{Fetch: p.mint, Timeout: cfg.Timeout}
	}
	return p, nil
}

func (p *Provider) accountURL(path string) string {
	return p.base + "/v1/accounts/" + url.PathEscape(p.cfg.Account) + path
}

// call makes an authenticated request. With a minted token, a 401 mints a
// new one and tries once more; a static token that Keygen rejects halts.
// admin calls carry Keygen-Environment. The forgot-password call does not:
// Keygen finds its user in any environment, and picks the webhook endpoints
// of the user's own.
func (p *Provider) call(ctx context.Context, op, method, rawURL string, payload []byte, admin bool) (*apiclient.Response, error) {
	r := apiclient.Request{Op: op, Method: method, URL: rawURL, Body: payload}
	if admin {
		r.Header = p.adminHeader
	}
	if p.minted == nil {
		r.Bearer = p.cfg.Token
		return p.client.Do(ctx, r)
	}
	return apiclient.WithToken(ctx, p.client, p.minted, func(t mintedToken) string { return t.value }, r)
}
