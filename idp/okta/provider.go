package okta

import (
	"cmp"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// Methods: how the reset mail is asked for.
const (
	// MethodReset is the admin reset (lifecycle/reset_password): the
	// current password stops working until the user sets a new one.
	MethodReset = "reset"
	// MethodForgot is the self-service forgot-password mail
	// (credentials/forgot_password): the current password keeps working.
	MethodForgot = "forgot"
)

// Scopes an OAuth 2.0 service app's token is asked for.
var Scopes = []string{"okta.users.read", "okta.users.manage"}

// Config configures a Provider. Give APIToken, or ClientID with
// PrivateKey.
type Config struct {
	// OrgURL is the Okta org (https://acme.okta.com).
	OrgURL string
	// APIToken is an API token, sent as SSWS; it acts with its admin's
	// rights (a Help Desk or Org admin can reset users).
	APIToken string
	// ClientID and PrivateKey (PEM, PKCS#8 or PKCS#1 RSA) are an OAuth 2.0
	// service app's; KeyID is its key's kid, when the app has several.
	ClientID   string
	PrivateKey []byte
	KeyID      string
	// Method is MethodReset (default) or MethodForgot.
	Method string
	// RevokeSessions, with MethodReset, also ends the user's sessions.
	RevokeSessions bool
	// Timeout bounds each HTTP call (default 30 s); UserAgent defaults to
	// resetq.
	Timeout    time.Duration
	HTTPClient *http.Client
	UserAgent  string
}

// Provider sends resets through one Okta org. It is safe for concurrent
// use.
type Provider struct {
	cfg    Config
	org    string
	client *apiclient.Client
	key    *rsa.PrivateKey
	tokens *apiclient.TokenCache[string] // nil with an API token
}

var (
	_ idp.Provider = (*Provider)(nil)
	_ idp.Checker  = (*Provider)(nil)
)

// Accepts is what Okta finds a user by: the profile's email, the login
// (resetq's username) and the user's id.
const Accepts = idp.AnyUserRef

// New checks cfg and returns a Provider. It makes no request.
func New(cfg Config) (*Provider, error) {
	cfg.Method = cmp.Or(cfg.Method, MethodReset)
	if cfg.Method != MethodReset && cfg.Method != MethodForgot {
		return nil, errors.New(`okta: method must be "reset" or "forgot"`)
	}
	if cfg.RevokeSessions && cfg.Method != MethodReset {
		return nil, errors.New("okta: revoke_sessions goes with method reset")
	}
	org, err := apiclient.BaseURL("okta", cfg.OrgURL)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, org: org, client: &apiclient.Client{
		HTTP: cfg.HTTPClient, MediaType: "application/json", UserAgent: cfg.UserAgent, Timeout: cfg.Timeout,
		Secrets: []string{cfg.APIToken, string(cfg.PrivateKey)},
	}}
	switch {
	case cfg.APIToken != "" && cfg.ClientID != "":
		return nil, errors.New("okta: give an API token or a service app (client id and private key), not both")
	case cfg.APIToken != "":
	case cfg.ClientID == "" || len(cfg.PrivateKey) == 0:
		return nil, errors.New("okta: an API token, or a service app's client id and private key, is required")
	default:
		if p.key, err = apiclient.ParseRSAKey(cfg.PrivateKey); err != nil {
			return nil, fmt.Errorf("okta: %w", err)
		}
		p.tokens = &apiclient.TokenCache[string]{Fetch: p.fetchToken, Timeout: cfg.Timeout}
	}
	return p, nil
}
