package keygen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/resetq/resetq/idp"
)

// Defaults.
const (
	DefaultBaseURL    = "https://api.keygen.sh"
	DefaultAPIVersion = "1.8"
	mediaType         = "application/vnd.api+json"
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
	// Deliver false asks Keygen to send no email and only fire its
	// user.password-reset webhook.
	Deliver bool
	// VerifyUser looks the user up first, so an unknown email is reported
	// skipped/user_not_found instead of Keygen's silent 204.
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
	client *http.Client
	minted *idp.TokenCache[string] // nil with a static token
}

var _ idp.Provider = (*Provider)(nil)
var _ idp.Checker = (*Provider)(nil)

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
	u, err := url.Parse(cfg.BaseURL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return nil, fmt.Errorf("keygen: base_url %q is not an http(s) URL", cfg.BaseURL)
	case cfg.Account == "":
		return nil, errors.New("keygen: account is required")
	case cfg.Token == "" && (cfg.Email == "" || cfg.Password == ""):
		return nil, errors.New("keygen: a token, or an email and password to mint one, is required")
	case cfg.Token != "" && cfg.Email != "":
		return nil, errors.New("keygen: give a token or an email and password, not both")
	}
	p := &Provider{cfg: cfg, base: strings.TrimSuffix(cfg.BaseURL, "/"), client: cfg.HTTPClient}
	if p.client == nil {
		p.client = &http.Client{Transport: http.DefaultTransport}
	}
	if cfg.Token == "" {
		p.minted = &idp.TokenCache[string]{Fetch: p.mint, Timeout: cfg.Timeout}
	}
	return p, nil
}

func (p *Provider) accountURL(path string) string {
	return p.base + "/v1/accounts/" + url.PathEscape(p.cfg.Account) + path
}

// response is an answer, read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (p *Provider) send(ctx context.Context, op, method, rawURL, bearer string, basic [2]string, payload []byte) (*response, error) {
	ctx, cancel := context.WithTimeout(idp.WithOperation(ctx, op), p.cfg.Timeout)
	defer cancel()
	ctx, sent := idp.WatchSent(ctx)
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return nil, &idp.Error{Kind: idp.Configuration, Op: op, Message: "cannot build request", Err: err}
	}
	req.Header.Set("Accept", mediaType)
	req.Header.Set("Keygen-Version", p.cfg.APIVersion)
	req.Header.Set("User-Agent", p.cfg.UserAgent)
	if payload != nil {
		req.Header.Set("Content-Type", mediaType)
	}
	switch {
	case bearer != "":
		req.Header.Set("Authorization", "Bearer "+bearer)
	case basic[0] != "":
		req.SetBasicAuth(basic[0], basic[1])
	}
	res, err := p.client.Do(req)
	if err != nil {
		if sent() {
			return nil, idp.NoAnswer(op, err)
		}
		return nil, idp.NetworkError(op, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, idp.NoAnswer(op, err)
	}
	if res.StatusCode >= 300 {
		// An error page may echo the request; a success (a minted token)
		// is read as it is.
		b = idp.Scrub(b, bearer, p.cfg.Token, p.cfg.Password)
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// call makes an authenticated request. With a minted token, a 401 mints a
// new one and tries once more; a static token that Keygen rejects halts.
func (p *Provider) call(ctx context.Context, op, method, rawURL string, payload []byte) (*response, error) {
	for attempt := 0; ; attempt++ {
		bearer := p.cfg.Token
		if p.minted != nil {
			var err error
			if bearer, err = p.minted.Token(ctx); err != nil {
				if ctx.Err() != nil {
					return nil, idp.NetworkError(op, ctx.Err())
				}
				return nil, err
			}
		}
		res, err := p.send(ctx, op, method, rawURL, bearer, [2]string{}, payload)
		if err != nil {
			return nil, err
		}
		if res.status != http.StatusUnauthorized || p.minted == nil || attempt > 0 {
			return res, nil
		}
		p.minted.Invalidate(bearer)
	}
}

// mint creates a token with HTTP Basic. Keygen returns its secret once.
func (p *Provider) mint(ctx context.Context, _ string) (string, time.Duration, error) {
	body := []byte(`{"data":{"type":"tokens","attributes":{"name":"resetq"}}}`)
	res, err := p.send(ctx, idp.OpToken, http.MethodPost, p.accountURL("/tokens"), "",
		[2]string{p.cfg.Email, p.cfg.Password}, body)
	if err != nil {
		return "", 0, err
	}
	if res.status != http.StatusCreated && res.status != http.StatusOK {
		return "", 0, p.classify(idp.OpToken, res)
	}
	var doc struct {
		Data struct {
			Attributes struct {
				Token  string     `json:"token"`
				Expiry *time.Time `json:"expiry"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(res.body, &doc); err != nil || doc.Data.Attributes.Token == "" {
		return "", 0, &idp.Error{Kind: idp.Configuration, Op: idp.OpToken, Status: res.status,
			Message: "the token endpoint answered without a token", Hint: "check base_url: is it a Keygen server?"}
	}
	var life time.Duration
	if e := doc.Data.Attributes.Expiry; e != nil {
		if life = time.Until(*e); life <= 0 {
			return "", 0, &idp.Error{Kind: idp.Configuration, Op: idp.OpToken, Status: res.status,
				Message: "Keygen minted a token that has already expired", Hint: "check the clock of this machine"}
		}
	}
	return doc.Data.Attributes.Token, life, nil
}

// keygenUser is what resetq reads of a user resource.
type keygenUser struct {
	Data struct {
		ID         string `json:"id"`
		Type       string `json:"type"`
		Attributes struct {
			Email  string `json:"email"`
			Status string `json:"status"`
			Role   string `json:"role"`
			Name   string `json:"name"`
		} `json:"attributes"`
	} `json:"data"`
}

// Reset asks Keygen to send a password reset for the user's email.
func (p *Provider) Reset(ctx context.Context, req idp.Request) error {
	email := req.User.Email
	if email == "" {
		return &idp.Error{Kind: idp.InvalidRequest, Op: idp.OpReset,
			Message: "Keygen resets passwords by email only; this request names the user another way"}
	}
	if p.cfg.VerifyUser {
		res, err := p.call(ctx, idp.OpLookup, http.MethodGet, p.accountURL("/users/"+url.PathEscape(email)), nil)
		if err != nil {
			return err
		}
		if res.status != http.StatusOK {
			return p.classify(idp.OpLookup, res)
		}
		var u keygenUser
		if err := json.Unmarshal(res.body, &u); err != nil || u.Data.Type != "users" {
			return &idp.Error{Kind: idp.Transient, Op: idp.OpLookup, Status: res.status, Message: "the user lookup answered something that is not a user"}
		}
		if !strings.EqualFold(u.Data.Attributes.Email, email) {
			return &idp.Error{Kind: idp.UserNotFound, Op: idp.OpLookup, Status: res.status, Message: "no user with that email"}
		}
		if u.Data.Attributes.Status == "BANNED" {
			return &idp.Error{Kind: idp.UserDisabled, Op: idp.OpLookup, Status: res.status, Message: "user is banned"}
		}
	}
	payload, _ := json.Marshal(map[string]any{"meta": map[string]any{"email": email, "deliver": p.cfg.Deliver}})
	if req.Pace != nil {
		if err := req.Pace(ctx); err != nil {
			return err
		}
	}
	res, err := p.call(ctx, idp.OpReset, http.MethodPost, p.accountURL("/passwords"), payload)
	if err != nil {
		return err
	}
	// Keygen's server answers 204; its documentation says 202.
	if res.status >= 200 && res.status < 300 {
		return nil
	}
	return p.classify(idp.OpReset, res)
}
