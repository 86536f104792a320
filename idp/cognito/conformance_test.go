package cognito_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/cognito"
	"github.com/resetq/resetq/idp/cognito/cognitotest"
	"github.com/resetq/resetq/idp/idptest"
)

const (
	keyID  = "AKIARESETQCONFORMANCE"
	secret = "conformance/secret+key0123456789abcdefghij"
)

// awsConfig is the SDK's configuration with a static key, as the standard
// chain would find in the environment.
func awsConfig() aws.Config {
	return aws.Config{Region: cognitotest.Region, Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, "")}
}

func newEnv(t *testing.T, method string) *idptest.Env {
	s := cognitotest.NewServer()
	t.Cleanup(s.Close)
	s.AddKey(keyID, secret)
	pool := s.AddPool("staff")
	client := s.AddClient(pool, "app-client-secret-0123456789")
	alice := s.AddUser(pool, "alice@example.com")
	before := s.Get(alice).Password
	p, err := cognito.New(cognito.Config{AWS: awsConfig(), UserPoolID: pool.ID, Method: method, ClientID: client,
		ClientSecret: "app-client-secret-0123456789", EndpointURL: s.URL(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ep := cognitotest.EndpointAdminReset
	if method == cognito.MethodForgot {
		ep = cognitotest.EndpointForgot
	}
	return &idptest.Env{
		Provider:          p,
		Accepts:           cognito.Accepts,
		Known:             idp.UserRef{Email: "alice@example.com"},
		Unknown:           idp.UserRef{Email: "nobody@example.com"},
		Sent:              func() int { return s.SentTo("alice@example.com") },
		Faults:            s,
		ResetEndpoint:     ep,
		RejectCredentials: s.RemoveKeys,
		HideUnknown:       func() { s.SetHide(pool, true) },
		PasswordWorks:     func() bool { return s.Get(alice).Password == before },
		KeepsPassword:     method == cognito.MethodForgot,
		Secrets:           func() []string { return []string{secret, "app-client-secret-0123456789"} },
		Held:              func() []string { return []string{secret} },
		QuotesNoPage:      true, // the SDK reads it
	}
}

func TestConformanceWithAdminReset(t *testing.T) {
	t.Parallel()
	idptest.Run(t, func(t *testing.T) *idptest.Env { return newEnv(t, cognito.MethodAdmin) })
}

func TestConformanceWithForgotPassword(t *testing.T) {
	t.Parallel()
	idptest.Run(t, func(t *testing.T) *idptest.Env { return newEnv(t, cognito.MethodForgot) })
}
