package okta

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// tokenURL is the org authorization server's token endpoint, the one that
// issues tokens for the management API.
func (p *Provider) tokenURL() string { return p.org + "/oauth2/v1/token" }

// assertion is a client assertion for the token endpoint: a JWT the app
// signs with its key (RFC 7523), good for five minutes, used once.
func (p *Provider) assertion(now time.Time) (string, error) {
	header := map[string]string{"alg": "RS256", "typ": "JWT"}
	if p.cfg.KeyID != "" {
		header["kid"] = p.cfg.KeyID
	}
	claims := map[string]any{"iss": p.cfg.ClientID, "sub": p.cfg.ClientID, "aud": p.tokenURL(),
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": rand.Text()}
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	signed := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, p.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// fetchToken trades a fresh client assertion for an access token (the
// client credentials grant, private_key_jwt).
func (p *Provider) fetchToken(ctx context.Context, _ string) (string, time.Duration, error) {
	jwt, err := p.assertion(time.Now())
	if err != nil {
		return "", 0, &idp.Error{Kind: idp.Configuration, Op: idp.OpToken, Message: "signing the client assertion failed", Err: err}
	}
	conf := &clientcredentials.Config{ClientID: p.cfg.ClientID, TokenURL: p.tokenURL(), Scopes: Scopes,
		AuthStyle: oauth2.AuthStyleInParams, EndpointParams: url.Values{
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {jwt},
		}}
	return apiclient.OAuth2Token(ctx, p.client, conf.Token, p.refused)
}

// refused says what a token endpoint's refusal means.
func (p *Provider) refused(re *oauth2.RetrieveError, e *idp.Error) {
	switch {
	case re.ErrorCode == "invalid_client":
		e.Kind = idp.Credentials
		e.Hint = "Okta refuses the service app " + p.cfg.ClientID + ": is the client id right, and its public key (kid " +
			cmp.Or(p.cfg.KeyID, "any") + ") registered with client authentication 'Public key / Private key'?"
	case re.ErrorCode == "invalid_scope":
		e.Kind = idp.Permission
		e.Hint = "grant the service app the scopes " + strings.Join(Scopes, " and ") + " (Okta API Scopes tab)"
	case strings.Contains(re.ErrorCode, "dpop"):
		e.Kind = idp.Configuration
		e.Hint = "the service app requires DPoP, which resetq does not send: turn off 'Require Demonstrating Proof of Possession' in its settings"
	default:
		e.Kind = idp.Configuration
		e.Hint = "Okta's token endpoint refuses the service app's request: check its grant type (client credentials)"
	}
}

// do makes a call with the request's credentials: the API token as SSWS, or the
// service app's bearer (refreshed once on a 401).
func (p *Provider) do(ctx context.Context, r apiclient.Request) (*apiclient.Response, error) {
	if p.tokens == nil {
		r.Header = http.Header{"Authorization": {"SSWS " + p.cfg.APIToken}}
		return p.client.Do(ctx, r)
	}
	return apiclient.WithToken(ctx, p.client, p.tokens, func(t string) string { return t }, r)
}
