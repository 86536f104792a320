package keycloak

import (
	"context"
	"errors"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/resetq/resetq/idp"
)

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
