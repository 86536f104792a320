package config

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/cognito"
)

// Cognito is an Amazon Cognito user pool provider's own settings. The AWS
// credentials come from the standard chain (environment, shared files and
// profile, container and instance roles).
type Cognito struct {
	Region     string `yaml:"region"`
	UserPoolID string `yaml:"user_pool_id"`
	// Method is admin (default: the user cannot sign in until they set a
	// new password) or forgot (through an app client; the current password
	// keeps working).
	Method string `yaml:"method"`
	// ClientID and ClientSecret are the app client method forgot goes
	// through.
	ClientID         string `yaml:"client_id"`
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// Profile is a profile of the shared AWS files; CredentialsFile a
	// shared credentials file whose keys (of Profile, else default) are
	// used before any in the environment.
	Profile         string `yaml:"profile"`
	CredentialsFile string `yaml:"credentials_file"`
	// EndpointURL replaces Cognito's endpoint (a VPC endpoint, an
	// emulator).
	EndpointURL string `yaml:"endpoint_url"`
}

func (*Cognito) Type() string          { return "cognito" }
func (*Cognito) Accepts() idp.UserRefs { return cognito.Accepts }

func (c *Cognito) New(p *Provider, client *http.Client) (idp.Provider, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(c.Region)}
	if c.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(c.Profile))
	}
	if c.CredentialsFile != "" {
		opts = append(opts, awsconfig.WithSharedCredentialsFiles([]string{c.CredentialsFile}))
	}
	if c.CredentialsFile != "" {
		// The file named is meant: its keys come before the
		// environment's, which the standard chain would try first.
		profile := cmp.Or(c.Profile, "default")
		sc, err := awsconfig.LoadSharedConfigProfile(context.Background(), profile, func(o *awsconfig.LoadSharedConfigOptions) {
			o.CredentialsFiles, o.ConfigFiles = []string{c.CredentialsFile}, []string{}
		})
		if err != nil {
			return nil, fmt.Errorf("cognito: credentials_file %s, profile %s: %w", c.CredentialsFile, profile, err)
		}
		if sc.Credentials.HasKeys() {
			opts = append(opts, awsconfig.WithCredentialsProvider(credentials.StaticCredentialsProvider{Value: sc.Credentials}))
		}
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return nil, err
	}
	return cognito.New(cognito.Config{AWS: cfg, UserPoolID: c.UserPoolID, Method: c.Method, ClientID: c.ClientID,
		ClientSecret: c.ClientSecret, EndpointURL: c.EndpointURL, Timeout: p.Timeout, HTTPClient: client})
}

func (c *Cognito) secrets() []secret {
	return []secret{{"client_secret", &c.ClientSecret, c.ClientSecretFile}}
}

func (c *Cognito) defaults(*Provider) {
	if c.Method == "" {
		c.Method = cognito.MethodAdmin
	}
}

var (
	regionRE   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	userPoolRE = regexp.MustCompile(`^[\w-]+_[0-9a-zA-Z]+$`)
)

func (c *Cognito) validate(l *loader, _ *Provider, path string) {
	if c.Region == "" {
		l.fieldError(path+".region", "is required: the user pool's AWS region, like eu-west-1")
	} else if !regionRE.MatchString(c.Region) {
		l.fieldError(path+".region", "%q is not an AWS region, like eu-west-1", c.Region)
	}
	switch {
	case c.UserPoolID == "":
		l.fieldError(path+".user_pool_id", "is required: the user pool's id, like eu-west-1_AbCdEf123")
	case !userPoolRE.MatchString(c.UserPoolID) || len(c.UserPoolID) > 55:
		l.fieldError(path+".user_pool_id", "%q is not a user pool id, like eu-west-1_AbCdEf123", c.UserPoolID)
	case c.Region != "" && !strings.HasPrefix(c.UserPoolID, c.Region+"_"):
		l.fieldError(path+".user_pool_id", "%q is not in region %s", c.UserPoolID, c.Region)
	}
	switch c.Method {
	case cognito.MethodAdmin:
		if c.ClientID != "" {
			l.fieldError(path+".client_id", "goes with method forgot (admin resets need no app client)")
		}
		if c.ClientSecret != "" {
			l.fieldError(path+".client_secret", "goes with method forgot (admin resets need no app client)")
		}
	case cognito.MethodForgot:
		if c.ClientID == "" {
			l.fieldError(path+".client_id", "required with method forgot: the app client ForgotPassword goes through")
		}
	default:
		l.fieldError(path+".method", "must be admin or forgot, not %q", c.Method)
	}
	if c.EndpointURL != "" {
		l.checkBaseURL(c.EndpointURL, path+".endpoint_url")
	}
	if c.CredentialsFile != "" {
		if !filepath.IsAbs(c.CredentialsFile) {
			c.CredentialsFile = filepath.Join(l.dir, c.CredentialsFile)
		}
		if _, err := os.Stat(c.CredentialsFile); err != nil {
			l.fieldError(path+".credentials_file", "cannot be read: %v", err)
		}
	}
}
