package cognito

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// Methods: how the reset is asked for.
const (
	// MethodAdmin is AdminResetUserPassword: the user cannot sign in until
	// they set a new password.
	MethodAdmin = "admin"
	// MethodForgot is ForgotPassword through an app client: the current
	// password keeps working.
	MethodForgot = "forgot"
)

// Config configures a Provider.
type Config struct {
	// AWS is the SDK's configuration: region and credentials (from
	// config.LoadDefaultConfig, the standard chain).
	AWS aws.Config
	// UserPoolID is the pool (us-east-1_AbCdEf123).
	UserPoolID string
	// Method is MethodAdmin (default) or MethodForgot.
	Method string
	// ClientID and ClientSecret are the app client ForgotPassword goes
	// through (the secret only when the client has one).
	ClientID, ClientSecret string
	// EndpointURL replaces the service's endpoint (an emulator, a VPC
	// endpoint).
	EndpointURL string
	// Timeout bounds each call (default 30 s); HTTPClient sends them.
	Timeout    time.Duration
	HTTPClient *http.Client
}

// Provider sends resets through one user pool. It is safe for concurrent
// use.
type Provider struct {
	cfg Config
	api *cip.Client
}

var (
	_ idp.Provider = (*Provider)(nil)
	_ idp.Checker  = (*Provider)(nil)
)

// Accepts is what Cognito finds a user by: the email attribute, the
// username, and the sub (the user's id).
const Accepts = idp.AnyUserRef

// New checks cfg and returns a Provider. It makes no request.
func New(cfg Config) (*Provider, error) {
	cfg.Method = cmp.Or(cfg.Method, MethodAdmin)
	switch {
	case cfg.Method != MethodAdmin && cfg.Method != MethodForgot:
		return nil, errors.New(`cognito: method must be "admin" or "forgot"`)
	case cfg.UserPoolID == "":
		return nil, errors.New("cognito: the user pool id is required")
	case cfg.AWS.Region == "":
		return nil, errors.New("cognito: the region is required")
	case cfg.Method == MethodForgot && cfg.ClientID == "":
		return nil, errors.New("cognito: method forgot goes through an app client: its client id is required")
	}
	cfg.Timeout = cmp.Or(cfg.Timeout, apiclient.DefaultTimeout)
	p := &Provider{cfg: cfg}
	p.api = cip.NewFromConfig(cfg.AWS, func(o *cip.Options) {
		// resetq retries, knowing which calls may have sent a mail.
		o.Retryer = aws.NopRetryer{}
		if cfg.HTTPClient != nil {
			o.HTTPClient = cfg.HTTPClient
		}
		if cfg.EndpointURL != "" {
			o.BaseEndpoint = aws.String(cfg.EndpointURL)
		}
	})
	return p, nil
}

// secretHash is ForgotPassword's SecretHash for a client with a secret.
func (p *Provider) secretHash(username string) *string {
	if p.cfg.ClientSecret == "" {
		return nil
	}
	m := hmac.New(sha256.New, []byte(p.cfg.ClientSecret))
	m.Write([]byte(username + p.cfg.ClientID))
	return aws.String(base64.StdEncoding.EncodeToString(m.Sum(nil)))
}

// call runs one SDK call as op, bounded by the timeout, turning its error
// into an *idp.Error. f passes the option to the SDK call: it watches
// whether Cognito's own request went out in full (and no other: the SDK
// fetches credentials with the same context).
func call[T any](ctx context.Context, p *Provider, op string, f func(ctx context.Context, watch func(*cip.Options)) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(idp.WithOperation(ctx, op), p.cfg.Timeout)
	defer cancel()
	sent := func() bool { return false }
	watch := func(o *cip.Options) {
		next := o.HTTPClient
		o.HTTPClient = doer(func(r *http.Request) (*http.Response, error) {
			ctx, s := apiclient.WatchSent(r.Context())
			sent = s
			return next.Do(r.WithContext(ctx))
		})
	}
	out, err := f(ctx, watch)
	if err != nil {
		return out, p.classify(op, sent(), err)
	}
	return out, nil
}

// doer is an aws.HTTPClient made of a function.
type doer func(*http.Request) (*http.Response, error)

func (d doer) Do(r *http.Request) (*http.Response, error) { return d(r) }
