package cognito

import (
	"errors"
	"fmt"
	"io"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// rule is what one exception means.
type rule struct {
	kind idp.Kind
	hint string
}

const mailHint = "Cognito cannot send the pool's messages: check its email configuration (SES identity and role) and SMS role"

// exceptions are the error codes the calls resetq makes can answer (the
// service model's, and the AWS front end's), and what each means.
var exceptions = map[string]rule{
	"UserNotFoundException":        {kind: idp.UserNotFound},
	"TooManyRequestsException":     {kind: idp.RateLimited},
	"LimitExceededException":       {kind: idp.RateLimited},
	"ThrottlingException":          {kind: idp.RateLimited},
	"InternalErrorException":       {kind: idp.Transient},
	"ServiceUnavailable":           {kind: idp.Transient},
	"CodeDeliveryFailureException": {kind: idp.MailFailed},
	"InvalidParameterException":    {kind: idp.InvalidRequest},
	"NotAuthorizedException": {idp.Credentials, "Cognito refuses the call: for method forgot, check the app client's " +
		"secret (client_secret) and that it allows the user's authentication; for admin, the pool's settings"},
	"UnrecognizedClientException": {idp.Credentials, "AWS does not know the access key: check the credentials resetq finds (environment, profile, role)"},
	"InvalidSignatureException":   {idp.Credentials, "AWS refuses the request's signature: check the secret access key and the machine's clock"},
	"ExpiredTokenException":       {idp.Credentials, "the AWS session credentials expired: refresh them (or use a role, which refreshes itself)"},
	"AccessDeniedException": {idp.Permission, "the IAM identity may not make this call: allow cognito-idp:ListUsers, AdminGetUser, " +
		"AdminResetUserPassword and DescribeUserPool on the user pool"},
	"ForbiddenException":                       {idp.Permission, "AWS WAF in front of the user pool refused the call"},
	"ResourceNotFoundException":                {idp.Configuration, "no such user pool (or app client) in this region: check user_pool_id, region and client_id"},
	"InvalidEmailRoleAccessPolicyException":    {idp.Configuration, mailHint},
	"InvalidSmsRoleAccessPolicyException":      {idp.Configuration, mailHint},
	"InvalidSmsRoleTrustRelationshipException": {idp.Configuration, mailHint},
	"UnexpectedLambdaException":                {idp.Configuration, "a Lambda trigger of the pool failed: see its logs"},
	"UserLambdaValidationException":            {idp.Configuration, "a Lambda trigger of the pool refused the request: see its logs"},
	"InvalidLambdaResponseException":           {idp.Configuration, "a Lambda trigger of the pool answered wrongly: see its logs"},
}

// classify turns an SDK error into an *idp.Error. sent says whether the
// request went out in full.
func (p *Provider) classify(op string, sent bool, err error) *idp.Error {
	var api smithy.APIError
	var re *awshttp.ResponseError
	hasStatus := errors.As(err, &re) && re.HTTPStatusCode() != 0
	if !errors.As(err, &api) {
		if !hasStatus {
			return apiclient.TransportError(op, sent, err)
		}
		if re.HTTPStatusCode() < 300 && errors.Is(err, io.ErrUnexpectedEOF) {
			// A success whose body broke off: the call was carried out.
			return apiclient.TransportError(op, true, err)
		}
		// An answer that is not Cognito's: a proxy's page, an AWS front
		// end's, or something else at endpoint_url.
		e := apiclient.ErrorOf(op, re.HTTPStatusCode(), re.Response.Header)
		e.Message, e.Err = fmt.Sprintf("answered %d, not in Cognito's shape", e.Status), err
		if e.Kind == idp.InvalidRequest {
			e.Kind, e.Hint = idp.Configuration, "something other than Cognito answers: check endpoint_url and region"
		}
		return e
	}
	e := &idp.Error{Kind: idp.InvalidRequest, Op: op, Code: apiclient.Excerpt(api.ErrorCode(), 60)}
	if hasStatus {
		e.Status = re.HTTPStatusCode()
		if ee := apiclient.ErrorOf(op, e.Status, re.Response.Header); ee.Kind != idp.InvalidRequest {
			e.Kind, e.RetryAfter = ee.Kind, ee.RetryAfter
		}
	}
	// Cognito's messages can quote the username; its fixed ones are kept.
	msg := api.ErrorMessage()
	e.Message = e.Code
	if len(msg) < 120 && !strings.ContainsAny(msg, "@") {
		e.Message = apiclient.Excerpt(msg, 120)
	}
	if r, ok := exceptions[api.ErrorCode()]; ok && e.Kind != idp.Unconfirmed {
		e.Kind, e.Hint = r.kind, r.hint
	}
	switch {
	case api.ErrorCode() == "InvalidParameterException" && strings.Contains(msg, "no registered/verified email"):
		e.Kind, e.Message = idp.UserNoEmail, "the user has no verified email or phone to send the code to"
	case api.ErrorCode() == "NotAuthorizedException" && strings.Contains(strings.ToLower(msg), "disabled"):
		e.Kind, e.Hint = idp.UserDisabled, ""
	case api.ErrorCode() == "NotAuthorizedException" && strings.Contains(msg, "current state"):
		// "User password cannot be reset in the current state."
		e.Kind, e.Hint = idp.UserDisabled, ""
		e.Message = "Cognito cannot reset this user in their current state (unconfirmed, or signed in through an external provider)"
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("answered %d", e.Status)
	}
	return e
}
