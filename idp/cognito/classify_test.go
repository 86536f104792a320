package cognito

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
)

// answering is an HTTP client whose every call gets the same answer, so
// that the SDK's own reading of it is part of what is tested.
type answering struct {
	status int
	header http.Header
	body   []byte
}

func (a answering) Do(r *http.Request) (*http.Response, error) {
	h := a.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{StatusCode: a.status, Header: h, Body: io.NopCloser(bytes.NewReader(a.body)), Request: r}, nil
}

// resetWith resets a user named by username against an answer.
func resetWith(t testing.TB, a answering) error {
	p, err := New(Config{AWS: aws.Config{Region: "eu-west-1", HTTPClient: a,
		Credentials: credentials.NewStaticCredentialsProvider("AKIA", "secret", "")}, UserPoolID: "eu-west-1_Test"})
	require.NoError(t, err)
	return p.Reset(context.Background(), idp.Request{User: idp.UserRef{Username: "alice"}})
}

func exception(typ, message string) answering {
	return answering{status: 400, header: http.Header{"X-Amzn-Errortype": {typ + ":"}, "Content-Type": {"application/x-amz-json-1.1"}},
		body: fmt.Appendf(nil, `{"__type":%q,"message":%q}`, typ, message)}
}

// Every exception of the table, through the SDK's own reading of the
// answer, and the answers that are not Cognito's.
func TestClassify(t *testing.T) {
	t.Parallel()
	rows := []struct {
		name string
		a    answering
		kind idp.Kind
		hint bool
	}{
		{"UserNotFoundException", exception("UserNotFoundException", "User does not exist."), idp.UserNotFound, false},
		{"TooManyRequestsException", exception("TooManyRequestsException", "Too many requests"), idp.RateLimited, false},
		{"LimitExceededException", exception("LimitExceededException", "Attempt limit exceeded"), idp.RateLimited, false},
		{"ThrottlingException", exception("ThrottlingException", "Rate exceeded"), idp.RateLimited, false},
		{"InternalErrorException", exception("InternalErrorException", "Internal error"), idp.Transient, false},
		{"ServiceUnavailable", answering{status: 503, header: http.Header{"X-Amzn-Errortype": {"ServiceUnavailable:"}}, body: []byte(`{"__type":"ServiceUnavailable"}`)}, idp.Transient, false},
		{"CodeDeliveryFailureException", exception("CodeDeliveryFailureException", "Unable to deliver"), idp.MailFailed, false},
		{"InvalidParameterException", exception("InvalidParameterException", "1 validation error detected"), idp.InvalidRequest, false},
		{"InvalidParameterException without an address", exception("InvalidParameterException",
			"Cannot reset password for the user as there is no registered/verified email or phone_number"), idp.UserNoEmail, false},
		{"NotAuthorizedException", exception("NotAuthorizedException", "Unable to verify secret hash for client x"), idp.Credentials, true},
		{"NotAuthorizedException for a disabled user", exception("NotAuthorizedException", "User is disabled."), idp.UserDisabled, false},
		{"NotAuthorizedException in the current state", exception("NotAuthorizedException", "User password cannot be reset in the current state."), idp.UserDisabled, false},
		{"UnrecognizedClientException", exception("UnrecognizedClientException", "The security token included in the request is invalid."), idp.Credentials, true},
		{"InvalidSignatureException", exception("InvalidSignatureException", "The request signature we calculated does not match"), idp.Credentials, true},
		{"ExpiredTokenException", exception("ExpiredTokenException", "The security token included in the request is expired"), idp.Credentials, true},
		{"AccessDeniedException", exception("AccessDeniedException", "not authorized to perform: cognito-idp:AdminGetUser"), idp.Permission, true},
		{"ForbiddenException", exception("ForbiddenException", "Request not allowed due to WAF block."), idp.Permission, true},
		{"ResourceNotFoundException", exception("ResourceNotFoundException", "User pool eu-west-1_Test does not exist."), idp.Configuration, true},
		{"InvalidEmailRoleAccessPolicyException", exception("InvalidEmailRoleAccessPolicyException", "x"), idp.Configuration, true},
		{"InvalidSmsRoleAccessPolicyException", exception("InvalidSmsRoleAccessPolicyException", "x"), idp.Configuration, true},
		{"InvalidSmsRoleTrustRelationshipException", exception("InvalidSmsRoleTrustRelationshipException", "x"), idp.Configuration, true},
		{"UnexpectedLambdaException", exception("UnexpectedLambdaException", "x"), idp.Configuration, true},
		{"UserLambdaValidationException", exception("UserLambdaValidationException", "x"), idp.Configuration, true},
		{"InvalidLambdaResponseException", exception("InvalidLambdaResponseException", "x"), idp.Configuration, true},
		{"an unknown exception fails the task", exception("SomethingNewException", "x"), idp.InvalidRequest, false},
		{"a proxy's 502", answering{status: 502, body: []byte("<html>Bad Gateway</html>")}, idp.Transient, false},
		{"a success cut short", answering{status: 200, body: []byte(`{"Username":"al`)}, idp.Transient, false},
		{"a 200 that is not Cognito's", answering{status: 200, body: []byte(`<html>Sign in</html>`)}, idp.Configuration, true},
		{"a proxy's 429", answering{status: 429, header: http.Header{"Retry-After": {"3"}}, body: []byte("<html>slow down</html>")}, idp.RateLimited, false},
		{"a page that is not Cognito's", answering{status: 404, body: []byte("<html>Not Found</html>")}, idp.Configuration, true},
	}
	covered := map[string]bool{}
	for _, r := range rows {
		covered[r.name] = true
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			e := idp.AsError(resetWith(t, r.a))
			require.Equal(t, r.kind, e.Kind, "%v", e)
			require.Equal(t, r.hint, e.Hint != "", "hint: %q", e.Hint)
			require.NotContains(t, e.Error(), "alice")
		})
	}
	for name := range exceptions {
		require.True(t, covered[name], "no row for %s", name)
	}
}

// The SDK fetches credentials with the call's context (a role's, from
// IMDS or STS): that request going out must not make a call that never
// reached Cognito look carried out.
func TestACredentialFetchIsNotTheCall(t *testing.T) {
	t.Parallel()
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	t.Cleanup(sts.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	cognitoURL := closed.URL
	closed.Close() // nothing listens there: Cognito's request never goes out
	creds := aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sts.URL, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return aws.Credentials{}, err
		}
		res.Body.Close()
		return aws.Credentials{AccessKeyID: "AKIA", SecretAccessKey: "s", Source: "test role"}, nil
	})
	p, err := New(Config{AWS: aws.Config{Region: "eu-west-1", Credentials: creds}, UserPoolID: "eu-west-1_Test", EndpointURL: cognitoURL})
	require.NoError(t, err)
	for _, ref := range []idp.UserRef{{Username: "alice"}} {
		err := p.Reset(context.Background(), idp.Request{User: ref})
		require.Equal(t, idp.Transient, idp.AsError(err).Kind, "%v", err)
	}
}
