package apiclient

import (
	"context"
	"errors"
	"time"

	"golang.org/x/oauth2"

	"github.com/resetq/resetq/idp"
)

// OAuth2Token gets an access token with get (an x/oauth2 flow), its
// requests made by the client (with its User-Agent) and tagged OpToken. It
// returns the token and how long it lives: what the endpoint said, or half
// an hour when it said nothing. A refusal is ErrorOf's error for the
// endpoint's answer, its code and description kept, handed to refused for
// the provider to say what it means (the kind of a 4xx, a hint); no answer
// is a network error.
func OAuth2Token(ctx context.Context, c *Client, get func(context.Context) (*oauth2.Token, error),
	refused func(re *oauth2.RetrieveError, e *idp.Error)) (string, time.Duration, error) {
	ctx = context.WithValue(idp.WithOperation(ctx, idp.OpToken), oauth2.HTTPClient, c.WithUserAgent())
	start := time.Now()
	t, err := get(ctx)
	if err != nil {
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.Response == nil {
			return "", 0, NetworkError(idp.OpToken, err)
		}
		e := ErrorOf(idp.OpToken, re.Response.StatusCode, re.Response.Header)
		e.Code = Excerpt(re.ErrorCode, 60)
		e.Message = Excerpt(re.ErrorDescription, 200)
		if e.Message == "" {
			e.Message = "the token endpoint refused: " + e.Code
		}
		if e.Kind == idp.InvalidRequest {
			refused(re, e)
		}
		return "", 0, e
	}
	if t.AccessToken == "" {
		return "", 0, &idp.Error{Kind: idp.Configuration, Op: idp.OpToken, Message: "the token endpoint answered without an access_token"}
	}
	life := time.Until(t.Expiry)
	if t.Expiry.IsZero() || life <= 0 {
		life = time.Since(start) + 30*time.Minute
	}
	return t.AccessToken, life, nil
}
