package config

import (
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/keygen"
	"github.com/resetq/resetq/internal/version"
)

// Keygen defaults.
const (
	DefaultKeygenURL       = "https://api.keygen.sh"
	DefaultKeygenVersion   = "1.8"
	DefaultKeygenDuplicate = time.Hour
)

// Keygen is a Keygen provider's own settings.
type Keygen struct {
	// BaseURL is Keygen's API (default https://api.keygen.sh).
	BaseURL string `yaml:"base_url"`
	// Account is the account's id or slug.
	Account string `yaml:"account"`
	// Token is an admin or product token (or give auth.email and
	// auth.password to mint one).
	Token     string     `yaml:"token"`
	TokenFile string     `yaml:"token_file"`
	Auth      KeygenAuth `yaml:"auth"`
	// TokenExpiry is the life of a token minted with auth.email and
	// auth.password (default 1h); it is revoked when the worker stops.
	TokenExpiry time.Duration `yaml:"token_expiry"`
	// Environment is a Keygen Enterprise Edition environment (its code or
	// id), sent as Keygen-Environment on lookups and other admin calls.
	Environment string `yaml:"environment"`
	// Deliver false: Keygen sends no email, only its webhook (default
	// true); a webhook endpoint must subscribe to user.password-reset.
	Deliver *bool `yaml:"deliver"`
	// VerifyUser looks the user up first, so unknown emails end skipped.
	// It needs a token that sees every user: not a product token.
	VerifyUser bool `yaml:"verify_user"`
	// KeygenVersion is sent as the Keygen-Version header (default 1.8).
	KeygenVersion string `yaml:"keygen_version"`
}

// KeygenAuth is the Keygen user an admin token is minted for.
type KeygenAuth struct {
	Email        string `yaml:"email"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

func (*Keygen) Type() string          { return "keygen" }
func (*Keygen) Accepts() idp.UserRefs { return keygen.Accepts }

func (k *Keygen) New(p *Provider, client *http.Client) (idp.Provider, error) {
	return keygen.New(keygen.Config{
		BaseURL: k.BaseURL, Account: k.Account, Token: k.Token,
		Email: k.Auth.Email, Password: k.Auth.Password, TokenExpiry: k.TokenExpiry, Environment: k.Environment,
		Deliver: *k.Deliver, VerifyUser: k.VerifyUser, APIVersion: k.KeygenVersion,
		Timeout: p.Timeout, HTTPClient: client, UserAgent: version.UserAgent(),
	})
}

func (k *Keygen) secrets() []secret {
	return []secret{{"token", &k.Token, k.TokenFile}, {"auth.password", &k.Auth.Password, k.Auth.PasswordFile}}
}

func (k *Keygen) defaults(p *Provider) {
	if k.BaseURL == "" {
		k.BaseURL = DefaultKeygenURL
	}
	if k.KeygenVersion == "" {
		k.KeygenVersion = DefaultKeygenVersion
	}
	if k.Deliver == nil {
		t := true
		k.Deliver = &t
	}
	if p.DuplicateWindow == nil {
		// A new reset cancels the link already sent.
		d := DefaultKeygenDuplicate
		p.DuplicateWindow = &d
	}
	if k.TokenExpiry == 0 && k.Auth.Email != "" {
		k.TokenExpiry = keygen.DefaultTokenExpiry
	}
}

func (k *Keygen) validate(l *loader, _ *Provider, path string) {
	l.checkBaseURL(k.BaseURL, path+".base_url")
	if k.Account == "" {
		l.fieldError(path+".account", "is required: the account's id or slug")
	}
	minting := k.Auth.Email != "" || k.Auth.Password != ""
	switch {
	case k.Token == "" && !minting:
		l.fieldError(path+".token", "required (or token_file, or auth.email and auth.password to mint one)")
	case k.Token != "" && minting:
		l.fieldError(path+".token", "give a token or auth.email and auth.password, not both")
	case minting && k.Auth.Email == "":
		l.fieldError(path+".auth.email", "required with auth.password")
	case minting && k.Auth.Password == "":
		l.fieldError(path+".auth.password", "required with auth.email (or password_file)")
	}
	if !versionRE.MatchString(k.KeygenVersion) {
		l.fieldError(path+".keygen_version", "%q must look like 1.8", k.KeygenVersion)
	}
	switch {
	case k.TokenExpiry != 0 && !minting:
		l.fieldError(path+".token_expiry", "applies to a token minted with auth.email and auth.password only")
	case minting && (k.TokenExpiry < minTokenExpiry || k.TokenExpiry > maxTokenExpiry):
		l.fieldError(path+".token_expiry", "must be between %s and %s, not %s", minTokenExpiry, maxTokenExpiry, k.TokenExpiry)
	}
	if k.Environment != "" && !environmentRE.MatchString(k.Environment) {
		l.fieldError(path+".environment", "%q is not an environment's code or id", k.Environment)
	}
	if kind := tokenKind(k.Token); k.VerifyUser && kind != "" {
		l.fieldError(path+".verify_user", "needs a token that sees every user, and token is a %s token, which sees only users "+
			"with role user: staff (admins, developers, …) would be reported user_not_found. Use an admin token "+
			"(or a developer, sales, support or read-only one), or set verify_user: false", kind)
	}
}

// Minted Keygen tokens live at least long enough not to be minted again
// and again (Keygen allows 5 mints a minute), and at most a month.
const (
	minTokenExpiry = 10 * time.Minute
	maxTokenExpiry = 30 * 24 * time.Hour
)

var (
	environmentRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$`)
	versionRE     = regexp.MustCompile(`^v?\d+\.\d+$`)
)

// tokenKind names, from its prefix, a Keygen token that cannot see staff
// users (prod-, env-, user-, activ- since v3; prod-, envi-, user-, acti-
// in v2), or returns "" for any other. Older tokens carry no prefix: the
// provider's check reads their kind from GET /me.
func tokenKind(token string) string {
	prefix, _, ok := strings.Cut(token, "-")
	if !ok {
		return ""
	}
	return map[string]string{"prod": "product", "env": "environment", "envi": "environment",
		"user": "user", "activ": "activation", "acti": "activation"}[prefix]
}
