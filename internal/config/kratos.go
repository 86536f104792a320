package config

import (
	"net/http"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/kratos"
	"github.com/resetq/resetq/internal/version"
)

// Kratos is an Ory Kratos provider's own settings.
type Kratos struct {
	// BaseURL is Kratos' public API, where /self-service/recovery is.
	BaseURL string `yaml:"base_url"`
	// AdminURL is Kratos' admin API: users by id, verify_user, the check.
	AdminURL string `yaml:"admin_url"`
	// Token is the admin API's key (Ory Network's API key); none for a
	// self-hosted admin API behind the network's own protection.
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// Method is the recovery method: link (default) or code, which needs
	// a mail template that links to the flow.
	Method string `yaml:"method"`
	// VerifyUser looks the address up first, so an unknown one ends
	// skipped: Kratos answers the same for known and unknown addresses.
	VerifyUser bool `yaml:"verify_user"`
}

func (*Kratos) Type() string          { return "kratos" }
func (*Kratos) Accepts() idp.UserRefs { return kratos.Accepts }

func (k *Kratos) New(p *Provider, client *http.Client) (idp.Provider, error) {
	return kratos.New(kratos.Config{PublicURL: k.BaseURL, AdminURL: k.AdminURL, AdminToken: k.Token,
		Method: k.Method, VerifyUser: k.VerifyUser, Timeout: p.Timeout, HTTPClient: client, UserAgent: version.UserAgent()})
}

func (k *Kratos) secrets() []secret { return []secret{{"token", &k.Token, k.TokenFile}} }

func (k *Kratos) defaults(*Provider) {
	if k.Method == "" {
		k.Method = kratos.MethodLink
	}
}

func (k *Kratos) validate(l *loader, p *Provider, path string) {
	if k.BaseURL == "" {
		l.fieldError(path+".base_url", "is required: Kratos' public API (where /self-service/recovery is served)")
	} else {
		l.checkBaseURL(k.BaseURL, path+".base_url")
	}
	if k.AdminURL != "" {
		l.checkBaseURL(k.AdminURL, path+".admin_url")
	}
	switch {
	case k.VerifyUser && k.AdminURL == "":
		l.fieldError(path+".verify_user", "needs admin_url: unknown addresses are found through Kratos' admin API")
	case k.Token != "" && k.AdminURL == "":
		l.fieldError(path+".token", "is the admin API's key, and there is no admin_url")
	}
	if k.Method != kratos.MethodLink && k.Method != kratos.MethodCode {
		l.fieldError(path+".method", "must be link or code, not %q", k.Method)
	}
	if p.RateLimit.N == 0 {
		l.fieldError(path+".rate_limit", "is required for Kratos, which has no throttle of its own: every reset sends a mail "+
			"(e.g. 10/s, what its mail relay takes)")
	}
}
