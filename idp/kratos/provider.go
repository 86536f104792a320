package kratos

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// Recovery methods: Kratos mails a link, or a one-time code.
//
// A code is bound to the recovery flow it was issued in, which resetq
// starts: Kratos' stock mail gives the user the code and no way to reach
// that flow, so the code is useless to them. Link is therefore the
// default. Code works with a mail template that carries the flow, which
// resetq sends in the transient payload as flow_id.
const (
	MethodCode = "code"
	MethodLink = "link"
)

// Config configures a Provider.
type Config struct {
	// PublicURL is the root of Kratos' public API, where the self-service
	// recovery flow lives (https://auth.example.com, or Ory Network's
	// project URL).
	PublicURL string
	// AdminURL is the root of its admin API. It is needed to find a user
	// by id, for VerifyUser, and for Check.
	AdminURL string
	// AdminToken, when set, is sent as a bearer to the admin API (Ory
	// Network's API keys). A self-hosted admin API is usually unguarded
	// and reachable only inside the network.
	AdminToken string
	// Method is the recovery method to ask for: "link" (the default; the
	// server must enable selfservice.methods.link) or "code" (with a
	// recovery_code template that links to the flow: see MethodCode).
	Method string
	// VerifyUser looks an email up through the admin API first, so an
	// address no identity has ends skipped/user_not_found: the recovery
	// flow answers the same for every address, and mails nothing to an
	// unknown one.
	VerifyUser bool
	// Timeout bounds each HTTP call (default 30 s); UserAgent defaults to
	// resetq.
	Timeout    time.Duration
	HTTPClient *http.Client
	UserAgent  string
}

// Provider sends resets through one Kratos. It is safe for concurrent use.
type Provider struct {
	cfg           Config
	public, admin string
	client        *apiclient.Client
}

var (
	_ idp.Provider = (*Provider)(nil)
	_ idp.Checker  = (*Provider)(nil)
)

// Accepts is what Kratos finds a user by: the recovery flow takes an email,
// and an identity's id is turned into its recovery address through the
// admin API. Kratos has no usernames of its own (identifiers are whatever
// the identity schema says).
const Accepts = idp.ByEmail | idp.ByID

// New checks cfg and returns a Provider. It makes no request.
func New(cfg Config) (*Provider, error) {
	cfg.Method = cmp.Or(cfg.Method, MethodLink)
	if cfg.Method != MethodCode && cfg.Method != MethodLink {
		return nil, errors.New(`kratos: method must be "code" or "link"`)
	}
	public, err := apiclient.BaseURL("kratos", cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, public: public, client: &apiclient.Client{
		HTTP: cfg.HTTPClient, MediaType: "application/json", UserAgent: cfg.UserAgent, Timeout: cfg.Timeout,
		Secrets: []string{cfg.AdminToken},
	}}
	if cfg.AdminURL != "" {
		if p.admin, err = apiclient.BaseURL("kratos", cfg.AdminURL); err != nil {
			return nil, err
		}
	}
	if cfg.VerifyUser && p.admin == "" {
		return nil, errors.New("kratos: verify_user needs the admin API's URL")
	}
	return p, nil
}

// adminCall makes a request to the admin API. Without one configured
// (New makes sure verify_user has one), only a user named by id needs it:
// that request fails, and resets by email go on.
func (p *Provider) adminCall(ctx context.Context, op, path string) (*apiclient.Response, error) {
	if p.admin == "" {
		return nil, &idp.Error{Kind: idp.InvalidRequest, Op: op,
			Message: "a user named by id is found through Kratos' admin API, and this provider has no admin_url: name users by email, or set admin_url"}
	}
	return p.client.Do(ctx, apiclient.Request{Op: op, Method: http.MethodGet, URL: p.admin + path, Bearer: p.cfg.AdminToken})
}
