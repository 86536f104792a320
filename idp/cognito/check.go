package cognito

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"github.com/resetq/resetq/idp"
)

// checkUser is a username nobody has: the check's reset goes to nobody.
const checkUser = "resetq-check-no-such-user"

// Check verifies, without mailing anyone, what a reset needs: the pool is
// there (DescribeUserPool), users can be listed, and the configured reset
// for a user nobody is answers UserNotFoundException rather than a refusal.
func (p *Provider) Check(ctx context.Context) (r idp.CheckReport, err error) {
	pool, err := call(ctx, p, idp.OpCheck, func(ctx context.Context, watch func(*cip.Options)) (*cip.DescribeUserPoolOutput, error) {
		return p.api.DescribeUserPool(ctx, &cip.DescribeUserPoolInput{UserPoolId: aws.String(p.cfg.UserPoolID)}, watch)
	})
	if err != nil {
		return r, err
	}
	name := p.cfg.UserPoolID
	if pool.UserPool != nil && pool.UserPool.Name != nil {
		name = fmt.Sprintf("%s (%s)", *pool.UserPool.Name, p.cfg.UserPoolID)
	}
	r.Lines = append(r.Lines, "user pool: "+name+" in "+p.cfg.AWS.Region)
	if _, err := call(ctx, p, idp.OpCheck, func(ctx context.Context, watch func(*cip.Options)) (*cip.ListUsersOutput, error) {
		return p.api.ListUsers(ctx, &cip.ListUsersInput{UserPoolId: aws.String(p.cfg.UserPoolID), Limit: aws.Int32(1)}, watch)
	}); err != nil {
		return r, err
	}
	r.Lines = append(r.Lines, "ListUsers: allowed")
	probe := func(ctx context.Context, watch func(*cip.Options)) (any, error) {
		if p.cfg.Method == MethodForgot {
			return p.api.ForgotPassword(ctx, &cip.ForgotPasswordInput{ClientId: aws.String(p.cfg.ClientID),
				Username: aws.String(checkUser), SecretHash: p.secretHash(checkUser)}, watch)
		}
		return p.api.AdminResetUserPassword(ctx, &cip.AdminResetUserPasswordInput{UserPoolId: aws.String(p.cfg.UserPoolID),
			Username: aws.String(checkUser)}, watch)
	}
	_, err = call(ctx, p, idp.OpCheck, probe)
	switch e := idp.AsError(err); {
	case e == nil && p.cfg.Method == MethodForgot:
		// The app client prevents user existence errors: resetq looks
		// users up first, so unknown ones are still skipped.
		r.Lines = append(r.Lines, "method forgot: allowed (the app client hides unknown users; resetq finds them first)")
	case e == nil:
		return r, &idp.Error{Kind: idp.Configuration, Op: idp.OpCheck, Message: "the reset of a user nobody is succeeded",
			Hint: "something other than Cognito answers: check endpoint_url"}
	case e.Kind != idp.UserNotFound:
		return r, e
	default:
		r.Lines = append(r.Lines, "method "+p.cfg.Method+": allowed")
	}
	if p.cfg.Method == MethodAdmin {
		r.Warnings = append(r.Warnings, "method admin: AdminResetUserPassword puts the user in RESET_REQUIRED: their current "+
			"password stops working until they set a new one with the mailed code (method forgot keeps it working)")
	}
	return r, nil
}
