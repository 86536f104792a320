package firebase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// DefaultBaseURL is Google's Identity Toolkit API.
const DefaultBaseURL = "https://identitytoolkit.googleapis.com"

// Scopes a service account's token is asked for.
var Scopes = []string{"https://www.googleapis.com/auth/identitytoolkit", "https://www.googleapis.com/auth/cloud-platform"}

// Config configures a Provider. Exactly one of ServiceAccount, APIKey and
// Emulator says how resetq is known to Firebase.
type Config struct {
	// ProjectID is the Firebase (Google Cloud) project.
	ProjectID string
	// BaseURL is the Identity Toolkit API's root (default
	// DefaultBaseURL); an emulator's is
	// http://host:port/identitytoolkit.googleapis.com.
	BaseURL string
	// ServiceAccount is a service account's JSON key: resetq calls as an
	// admin, with a token from Google's token endpoint.
	ServiceAccount []byte
	// APIKey is the project's Web API key: resetq calls as a client,
	// which can send resets to emails only.
	APIKey string
	// Emulator: the base URL is a Firebase Auth emulator, whose admin
	// credential is the bearer "owner".
	Emulator bool
	// VerifyUser looks an email up first (admin only), so that an unknown
	// or disabled account is skipped even where Firebase answers 200 to
	// every address (email enumeration protection).
	VerifyUser bool
	// ContinueURL, when set, is where the reset page sends the user after
	// the new password is saved; its domain must be authorised in the
	// project.
	ContinueURL string
	// Timeout bounds each HTTP call (default 30 s); UserAgent defaults to
	// resetq.
	Timeout    time.Duration
	HTTPClient *http.Client
	UserAgent  string
}

// Provider sends resets through one Firebase project. It is safe for
// concurrent use.
type Provider struct {
	cfg    Config
	base   string // …/v1
	client *apiclient.Client
	// tokens holds the admin bearer; nil with an API key.
	tokens *apiclient.TokenCache[string]
	sa     *jwt.Config
}

var (
	_ idp.Provider = (*Provider)(nil)
	_ idp.Checker  = (*Provider)(nil)
)

// Accepts is what Firebase finds a user by: sendOobCode takes an email, and
// a user's id (its uid) is turned into its email by an admin lookup.
const Accepts = idp.ByEmail | idp.ByID

// ClientAccepts is what a provider with only an API key finds users by:
// a client cannot look users up, so emails only.
const ClientAccepts = idp.ByEmail

// New checks cfg and returns a Provider. It makes no request.
func New(cfg Config) (*Provider, error) {
	if cfg.ProjectID == "" {
		return nil, errors.New("firebase: the project id is required")
	}
	ways := 0
	for _, set := range []bool{len(cfg.ServiceAccount) > 0, cfg.APIKey != "", cfg.Emulator} {
		if set {
			ways++
		}
	}
	if ways != 1 {
		return nil, errors.New("firebase: give exactly one of a service account, an API key or the emulator")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := apiclient.BaseURL("firebase", cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, base: base + "/v1", client: &apiclient.Client{
		HTTP: cfg.HTTPClient, MediaType: "application/json", UserAgent: cfg.UserAgent, Timeout: cfg.Timeout,
		Secrets: []string{cfg.APIKey},
	}}
	if cfg.VerifyUser && cfg.APIKey != "" {
		return nil, errors.New("firebase: verify_user looks users up as an admin, and an API key is a client's: use a service account")
	}
	switch {
	case cfg.Emulator:
		p.tokens = &apiclient.TokenCache[string]{Fetch: func(context.Context, string) (string, time.Duration, error) {
			return "owner", 0, nil
		}}
	case len(cfg.ServiceAccount) > 0:
		if p.sa, err = serviceAccount(cfg.ServiceAccount); err != nil {
			return nil, err
		}
		p.client.Secrets = append(p.client.Secrets, string(p.sa.PrivateKey))
		p.tokens = &apiclient.TokenCache[string]{Fetch: p.fetchToken, Timeout: cfg.Timeout}
	}
	return p, nil
}

// serviceAccount reads a service account's JSON key.
func serviceAccount(b []byte) (*jwt.Config, error) {
	var k struct {
		Type         string `json:"type"`
		ClientEmail  string `json:"client_email"`
		PrivateKey   string `json:"private_key"`
		PrivateKeyID string `json:"private_key_id"`
		TokenURI     string `json:"token_uri"`
	}
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, errors.New("firebase: the service account key is not JSON")
	}
	switch {
	case k.Type != "service_account":
		return nil, fmt.Errorf("firebase: the credentials are of type %q, not a service account's key (service_account)", k.Type)
	case k.ClientEmail == "" || k.PrivateKey == "":
		return nil, errors.New("firebase: the service account key lacks client_email or private_key")
	}
	if _, err := apiclient.ParseRSAKey([]byte(k.PrivateKey)); err != nil {
		return nil, fmt.Errorf("firebase: the service account key's private_key: %w", err)
	}
	if k.TokenURI == "" {
		k.TokenURI = "https://oauth2.googleapis.com/token"
	}
	return &jwt.Config{Email: k.ClientEmail, PrivateKey: []byte(k.PrivateKey), PrivateKeyID: k.PrivateKeyID,
		Scopes: Scopes, TokenURL: k.TokenURI}, nil
}

// fetchToken signs a JWT with the service account's key and trades it at
// Google's token endpoint for an access token (about an hour's).
func (p *Provider) fetchToken(ctx context.Context, _ string) (string, time.Duration, error) {
	return apiclient.OAuth2Token(ctx, p.client, func(ctx context.Context) (*oauth2.Token, error) {
		return p.sa.TokenSource(ctx).Token()
	}, func(_ *oauth2.RetrieveError, e *idp.Error) {
		e.Kind = idp.Credentials
		e.Hint = "Google's token endpoint refuses the service account " + p.sa.Email + ": is its key deleted or disabled?"
	})
}

// call makes one request to the API as resetq is configured: an admin
// call (path under /projects/{project}) with the bearer, refreshed once on
// a 401; a client call with the key.
func (p *Provider) call(ctx context.Context, op, action string, body any) (*apiclient.Response, error) {
	b, _ := json.Marshal(body)
	r := apiclient.Request{Op: op, Method: http.MethodPost, Body: b}
	if p.tokens == nil {
		r.URL = p.base + "/accounts:" + action + "?key=" + url.QueryEscape(p.cfg.APIKey)
		return p.client.Do(ctx, r)
	}
	r.URL = p.base + "/projects/" + url.PathEscape(p.cfg.ProjectID) + "/accounts:" + action
	return apiclient.WithToken(ctx, p.client, p.tokens, func(t string) string { return t }, r)
}
