package keycloak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

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
	if cfg.Grant == "" {
		cfg.Grant = GrantClientCredentials
	}
	if cfg.Grant == GrantPassword && cfg.ClientID == "" {
		cfg.ClientID = "admin-cli"
	}
	if cfg.TokenRealm == "" {
		cfg.TokenRealm = cfg.Realm
	}
	if len(cfg.Actions) == 0 {
		cfg.Actions = []string{"UPDATE_PASSWORD"}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.ResetTimeout <= 0 {
		cfg.ResetTimeout = DefaultResetTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "resetq"
	}
	u, err := url.Parse(cfg.BaseURL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return nil, fmt.Errorf("keycloak: base_url %q is not an http(s) URL", cfg.BaseURL)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, fmt.Errorf("keycloak: base_url %q must not have a query, fragment or user info", cfg.BaseURL)
	case cfg.Realm == "":
		return nil, errors.New("keycloak: realm is required")
	case cfg.Grant != GrantClientCredentials && cfg.Grant != GrantPassword:
		return nil, fmt.Errorf("keycloak: unknown grant %q", cfg.Grant)
	case cfg.Grant == GrantClientCredentials && (cfg.ClientID == "" || cfg.ClientSecret == ""):
		return nil, errors.New("keycloak: client_credentials needs a client id and secret")
	case cfg.Grant == GrantPassword && (cfg.Username == "" || cfg.Password == ""):
		return nil, errors.New("keycloak: the password grant needs a username and password")
	case cfg.RedirectURI != "" && cfg.LinkClientID == "":
		return nil, errors.New("keycloak: a redirect URI needs a link client id")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport}
	}
	p := &Provider{cfg: cfg, base: strings.TrimSuffix(cfg.BaseURL, "/"), client: &apiclient.Client{
		HTTP: hc, MediaType: "application/json", UserAgent: cfg.UserAgent, Timeout: cfg.Timeout,
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

// fetchToken asks the token endpoint for a new token. For the password
// grant it first tries the previous token's refresh token, which saves a
// password login (brute-force detection counts those).
func (p *Provider) fetchToken(ctx context.Context, prev *oauth2.Token) (*oauth2.Token, time.Duration, error) {
	ctx = context.WithValue(idp.WithOperation(ctx, idp.OpToken), oauth2.HTTPClient, p.client.WithUserAgent())
	endpoint := oauth2.Endpoint{TokenURL: p.tokenURL(), AuthStyle: oauth2.AuthStyleInParams}
	start := time.Now()
	var t *oauth2.Token
	var err error
	switch p.cfg.Grant {
	case GrantPassword:
		conf := &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, Endpoint: endpoint}
		if prev != nil && prev.RefreshToken != "" {
			t, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: prev.RefreshToken}).Token()
			var re *oauth2.RetrieveError
			if err == nil || !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				break
			}
			// The session is gone: log in again.
		}
		t, err = conf.PasswordCredentialsToken(ctx, p.cfg.Username, p.cfg.Password)
	default:
		conf := &clientcredentials.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret,
			TokenURL: p.tokenURL(), AuthStyle: oauth2.AuthStyleInParams}
		t, err = conf.Token(ctx)
	}
	if err != nil {
		return nil, 0, p.tokenError(err)
	}
	if t.AccessToken == "" {
		return nil, 0, p.tokenError(errNoAccessToken)
	}
	life := time.Duration(t.ExpiresIn) * time.Second
	if life <= 0 && !t.Expiry.IsZero() {
		life = t.Expiry.Sub(start)
	}
	if life <= 0 {
		life = time.Minute // Keycloak always says; if not, assume master's default
	}
	return t, life, nil
}

var errNoAccessToken = errors.New("token endpoint answered without an access_token")

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

// briefUser is what a brief user search returns that resetq reads.
type briefUser struct {
	ID       string          `json:"id"`
	Username string          `json:"username"`
	Email    string          `json:"email"`
	Enabled  bool            `json:"enabled"`
	Access   map[string]bool `json:"access"`
}

// resolve finds the id of the one user the reference names.
func (p *Provider) resolve(ctx context.Context, ref idp.UserRef) (string, error) {
	if ref.ID != "" {
		return ref.ID, nil
	}
	field, value := "email", ref.Email
	if value == "" {
		field, value = "username", ref.Username
	}
	if value == "" {
		return "", &idp.Error{Kind: idp.InvalidRequest, Op: idp.OpLookup, Message: "no user reference"}
	}
	q := url.Values{field: {value}, "exact": {"true"}, "briefRepresentation": {"true"}, "max": {"2"}}
	found, err := p.search(ctx, q, field, value)
	if err != nil {
		return "", err
	}
	if len(found) == 0 && strings.Contains(value, "+") {
		// Some servers do not find "+" addresses even when encoded
		// (keycloak#43780); a quoted search is an exact match too.
		q = url.Values{"search": {`"` + value + `"`}, "briefRepresentation": {"true"}, "max": {"2"}}
		if found, err = p.search(ctx, q, field, value); err != nil {
			return "", err
		}
	}
	switch len(found) {
	case 0:
		return "", &idp.Error{Kind: idp.UserNotFound, Op: idp.OpLookup, Status: http.StatusOK,
			Message: "no user with that " + field}
	case 1:
	default:
		return "", &idp.Error{Kind: idp.AmbiguousUser, Op: idp.OpLookup, Status: http.StatusOK,
			Message: "more than one user with that " + field}
	}
	u := found[0]
	switch {
	case !u.Enabled:
		return "", &idp.Error{Kind: idp.UserDisabled, Op: idp.OpLookup, Status: http.StatusOK, Message: "user is disabled"}
	case u.Email == "":
		return "", &idp.Error{Kind: idp.UserNoEmail, Op: idp.OpLookup, Status: http.StatusOK, Message: "user has no email"}
	}
	return u.ID, nil
}

// search runs a user search and keeps only the users whose field equals
// value ignoring case: exact=true is trusted to narrow, not to be right.
func (p *Provider) search(ctx context.Context, q url.Values, field, value string) ([]briefUser, error) {
	resp, err := p.admin(ctx, idp.OpLookup, http.MethodGet, p.adminURL("/users", q), nil)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return nil, p.classify(idp.OpLookup, resp.Status, resp.Header, resp.Body)
	}
	var users []briefUser
	if err := json.Unmarshal(resp.Body, &users); err != nil {
		return nil, &idp.Error{Kind: idp.Configuration, Op: idp.OpLookup, Status: resp.Status,
			Message: "the user search answered 200 with something that is not a list of users: " + apiclient.Excerpt(string(resp.Body), 80),
			Hint: "something in front of Keycloak (a login page, a proxy) answers for " + p.adminURL("/users", nil) +
				": check base_url"}
	}
	var out []briefUser
	for _, u := range users {
		got := u.Email
		if field == "username" {
			got = u.Username
		}
		if strings.EqualFold(got, value) {
			out = append(out, u)
		}
	}
	return out, nil
}

// Reset sends the execute-actions email.
func (p *Provider) Reset(ctx context.Context, req idp.Request) error {
	id, err := p.resolve(ctx, req.User)
	if err != nil {
		return err
	}
	actions := req.Actions
	if len(actions) == 0 {
		actions = p.cfg.Actions
	}
	payload, _ := json.Marshal(actions)
	if err := req.Paced(ctx); err != nil {
		return err
	}
	q := url.Values{}
	if p.cfg.Lifespan > 0 {
		q.Set("lifespan", strconv.Itoa(int(p.cfg.Lifespan/time.Second)))
	}
	if p.cfg.LinkClientID != "" {
		q.Set("client_id", p.cfg.LinkClientID)
	}
	if p.cfg.RedirectURI != "" {
		q.Set("redirect_uri", p.cfg.RedirectURI)
	}
	start := time.Now()
	resp, err := p.admin(ctx, idp.OpReset, http.MethodPut,
		p.adminURL("/users/"+url.PathEscape(id)+"/execute-actions-email", q), payload)
	if err == nil && resp.Status == http.StatusGatewayTimeout {
		// A proxy stopped waiting; Keycloak goes on sending.
		_, msg := parseBody(resp.Body)
		err = &idp.Error{Kind: idp.Unconfirmed, Op: idp.OpReset, Status: resp.Status,
			Message: "a proxy gave up waiting for Keycloak's answer (" + msg + "): Keycloak may have sent the mail"}
	}
	if err != nil {
		if idp.AsError(err).Kind == idp.Unconfirmed {
			return p.confirm(ctx, id, start, err)
		}
		return err
	}
	// Keycloak answers 204 and nothing else: another 2xx is something in
	// front of it (a login page, a proxy's own answer).
	status := strconv.Itoa(resp.Status)
	if done, err := resp.NoContent(idp.OpReset,
		"execute-actions-email answered "+status+" instead of 204: "+apiclient.Excerpt(string(resp.Body), 80),
		"Keycloak answers 204 to execute-actions-email; "+status+" comes from something in front of it "+
			"(a proxy, a login page): check base_url "+p.cfg.BaseURL+" and the proxy's routes"); done {
		return err
	}
	return p.classify(idp.OpReset, resp.Status, resp.Header, resp.Body)
}
