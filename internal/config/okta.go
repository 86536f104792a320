package config

import (
	"net/http"
	"strings"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/okta"
	"github.com/resetq/resetq/internal/version"
)

// Okta is an Okta provider's own settings.
type Okta struct {
	// OrgURL is the Okta org (https://acme.okta.com).
	OrgURL string `yaml:"org_url"`
	// APIToken is an API token (SSWS), acting with its admin's rights.
	APIToken     string `yaml:"api_token"`
	APITokenFile string `yaml:"api_token_file"`
	// ClientID, PrivateKey and KeyID are an OAuth 2.0 service app's,
	// instead of an API token (private_key_jwt).
	ClientID       string `yaml:"client_id"`
	PrivateKey     string `yaml:"private_key"`
	PrivateKeyFile string `yaml:"private_key_file"`
	KeyID          string `yaml:"key_id"`
	// Method is reset (default: the current password stops working) or
	// forgot (it keeps working until the user sets a new one).
	Method string `yaml:"method"`
	// RevokeSessions, with method reset, also ends the user's sessions.
	RevokeSessions bool `yaml:"revoke_sessions"`
}

func (*Okta) Type() string          { return "okta" }
func (*Okta) Accepts() idp.UserRefs { return okta.Accepts }

func (o *Okta) config(p *Provider, client *http.Client) okta.Config {
	return okta.Config{OrgURL: o.OrgURL, APIToken: o.APIToken, ClientID: o.ClientID, PrivateKey: []byte(o.PrivateKey),
		KeyID: o.KeyID, Method: o.Method, RevokeSessions: o.RevokeSessions,
		Timeout: p.Timeout, HTTPClient: client, UserAgent: version.UserAgent()}
}

func (o *Okta) New(p *Provider, client *http.Client) (idp.Provider, error) {
	return okta.New(o.config(p, client))
}

func (o *Okta) secrets() []secret {
	return []secret{{"api_token", &o.APIToken, o.APITokenFile}, {"private_key", &o.PrivateKey, o.PrivateKeyFile}}
}

func (o *Okta) defaults(*Provider) {
	if o.Method == "" {
		o.Method = okta.MethodReset
	}
}

func (o *Okta) validate(l *loader, p *Provider, path string) {
	before := len(l.errs)
	if o.OrgURL == "" {
		l.fieldError(path+".org_url", "is required: the Okta org, like https://acme.okta.com")
	} else {
		l.checkBaseURL(o.OrgURL, path+".org_url")
	}
	app := o.ClientID != "" || o.PrivateKey != ""
	switch {
	case o.APIToken != "" && app:
		l.fieldError(path, "give api_token or a service app (client_id and private_key_file), not both")
		return
	case o.APIToken == "" && !app:
		l.fieldError(path+".api_token_file", "required: an API token (or a service app's client_id and private_key_file)")
		return
	case app && o.ClientID == "":
		l.fieldError(path+".client_id", "required with private_key: the service app's client id")
		return
	case app && o.PrivateKey == "":
		l.fieldError(path+".private_key_file", "required with client_id: the service app's private key (PEM)")
		return
	case o.KeyID != "" && !app:
		l.fieldError(path+".key_id", "goes with a service app's private key")
	}
	switch {
	case o.Method != okta.MethodReset && o.Method != okta.MethodForgot:
		l.fieldError(path+".method", "must be reset or forgot, not %q", o.Method)
	case o.RevokeSessions && o.Method != okta.MethodReset:
		l.fieldError(path+".revoke_sessions", "goes with method reset (forgot leaves the user signed in)")
	case len(l.errs) == before:
		// The settings above are sound: what New still refuses is the
		// key itself.
		if _, err := okta.New(o.config(p, nil)); err != nil {
			l.fieldError(path+".private_key", "%s", strings.TrimPrefix(err.Error(), "okta: "))
		}
	}
}
