package config

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/internal/version"
	"github.com/resetq/resetq/tasks"
)

// Keycloak grants.
const (
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
)

// Keycloak is a Keycloak provider's own settings.
type Keycloak struct {
	// BaseURL is the server's root URL (with /auth for old Keycloak).
	BaseURL string       `yaml:"base_url"`
	Realm   string       `yaml:"realm"`
	Auth    KeycloakAuth `yaml:"auth"`
	// Actions are the required actions asked for (default
	// UPDATE_PASSWORD).
	Actions []string `yaml:"actions"`
	Link    Link     `yaml:"link"`
	// ResetTimeout bounds execute-actions-email, which sends the mail
	// inside it and finishes even when resetq gives up: it must outlast
	// Keycloak's own SMTP timeouts (default 2m30s, for Keycloak's default
	// 10 s ones).
	ResetTimeout time.Duration `yaml:"reset_timeout"`
}

// KeycloakAuth is how resetq gets an admin token from Keycloak's token
// endpoint.
type KeycloakAuth struct {
	// Grant is client_credentials (default) or password.
	Grant string `yaml:"grant"`
	// Realm issues the token; default: the provider's realm.
	Realm            string `yaml:"realm"`
	ClientID         string `yaml:"client_id"`
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	Username         string `yaml:"username"`
	Password         string `yaml:"password"`
	PasswordFile     string `yaml:"password_file"`
}

// Link shapes the link in the email.
type Link struct {
	// Lifespan is how long the link works; default: the realm's (12 h).
	Lifespan    time.Duration `yaml:"lifespan"`
	ClientID    string        `yaml:"client_id"`
	RedirectURI string        `yaml:"redirect_uri"`
}

func (*Keycloak) Type() string                 { return "keycloak" }
func (*Keycloak) Accepts() idp.UserRefs        { return keycloak.Accepts }
func (k *Keycloak) slowestCall() time.Duration { return k.ResetTimeout }

func (k *Keycloak) New(p *Provider, client *http.Client) (idp.Provider, error) {
	return keycloak.New(keycloak.Config{
		BaseURL: k.BaseURL, Realm: k.Realm,
		Grant: k.Auth.Grant, TokenRealm: k.Auth.Realm,
		ClientID: k.Auth.ClientID, ClientSecret: k.Auth.ClientSecret,
		Username: k.Auth.Username, Password: k.Auth.Password,
		Actions:  k.Actions,
		Lifespan: k.Link.Lifespan, LinkClientID: k.Link.ClientID, RedirectURI: k.Link.RedirectURI,
		Timeout: p.Timeout, ResetTimeout: k.ResetTimeout, HTTPClient: client, UserAgent: version.UserAgent(),
	})
}

func (k *Keycloak) secrets() []secret {
	return []secret{{"auth.client_secret", &k.Auth.ClientSecret, k.Auth.ClientSecretFile},
		{"auth.password", &k.Auth.Password, k.Auth.PasswordFile}}
}

func (k *Keycloak) defaults(*Provider) {
	if k.Auth.Grant == "" {
		k.Auth.Grant = GrantClientCredentials
	}
	if k.Auth.Realm == "" {
		k.Auth.Realm = k.Realm
	}
	if k.Auth.Grant == GrantPassword && k.Auth.ClientID == "" {
		k.Auth.ClientID = "admin-cli"
	}
	if len(k.Actions) == 0 {
		k.Actions = []string{tasks.ActionUpdatePassword}
	}
	if k.ResetTimeout == 0 {
		k.ResetTimeout = keycloak.DefaultResetTimeout
	}
}

func (k *Keycloak) validate(l *loader, _ *Provider, path string) {
	l.checkBaseURL(k.BaseURL, path+".base_url")
	if k.ResetTimeout < time.Second || k.ResetTimeout > 30*time.Minute {
		l.fieldError(path+".reset_timeout", "must be between 1s and 30m, not %s (and outlast Keycloak's SMTP timeouts)", k.ResetTimeout)
	}
	if k.Realm == "" {
		l.fieldError(path+".realm", "is required: the realm whose users are reset")
	}
	a := k.Auth
	switch a.Grant {
	case GrantClientCredentials:
		if a.ClientID == "" {
			l.fieldError(path+".auth.client_id", "required for client_credentials")
		}
		if a.ClientSecret == "" {
			l.fieldError(path+".auth.client_secret", "required for client_credentials (or client_secret_file)")
		}
		if a.Username != "" || a.Password != "" {
			l.fieldError(path+".auth.username", "only used with grant: password")
		}
	case GrantPassword:
		if a.Username == "" {
			l.fieldError(path+".auth.username", "required for the password grant")
		}
		if a.Password == "" {
			l.fieldError(path+".auth.password", "required for the password grant (or password_file)")
		}
	default:
		l.fieldError(path+".auth.grant", "must be client_credentials or password, not %q", a.Grant)
	}
	for i, act := range k.Actions {
		if err := tasks.ValidateAction(act); err != nil {
			l.fieldError(fmt.Sprintf("%s.actions[%d]", path, i), "%v", err)
		}
	}
	lk := k.Link
	if lk.Lifespan < 0 || lk.Lifespan > 0 && (lk.Lifespan < time.Minute || lk.Lifespan%time.Second != 0) {
		l.fieldError(path+".link.lifespan", "must be whole seconds of at least 1m, not %s", lk.Lifespan)
	}
	if lk.RedirectURI != "" {
		if lk.ClientID == "" {
			l.fieldError(path+".link.client_id", "required when link.redirect_uri is set (Keycloak checks the URI against that client)")
		}
		if u, err := url.Parse(lk.RedirectURI); err != nil || !u.IsAbs() {
			l.fieldError(path+".link.redirect_uri", "%q must be an absolute URL", lk.RedirectURI)
		}
	}
}
