package cognito

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// user is what resetq reads of a Cognito user.
type user struct {
	username string
	enabled  bool
	status   types.UserStatusType
}

// Reset finds the user and asks Cognito to send them a reset code (see the
// package documentation for what each method does to their password).
func (p *Provider) Reset(ctx context.Context, req idp.Request) error {
	u, err := p.find(ctx, req.User)
	if err != nil {
		return err
	}
	if err := usable(u); err != nil {
		return err
	}
	if err := req.Paced(ctx); err != nil {
		return err
	}
	if p.cfg.Method == MethodForgot {
		_, err = call(ctx, p, idp.OpReset, func(ctx context.Context, watch func(*cip.Options)) (*cip.ForgotPasswordOutput, error) {
			return p.api.ForgotPassword(ctx, &cip.ForgotPasswordInput{ClientId: aws.String(p.cfg.ClientID),
				Username: aws.String(u.username), SecretHash: p.secretHash(u.username)}, watch)
		})
		return err
	}
	_, err = call(ctx, p, idp.OpReset, func(ctx context.Context, watch func(*cip.Options)) (*cip.AdminResetUserPasswordOutput, error) {
		return p.api.AdminResetUserPassword(ctx, &cip.AdminResetUserPasswordInput{UserPoolId: aws.String(p.cfg.UserPoolID),
			Username: aws.String(u.username)}, watch)
	})
	return err
}

// find looks the user up: by email or sub with ListUsers, by username with
// AdminGetUser.
func (p *Provider) find(ctx context.Context, ref idp.UserRef) (*user, error) {
	if ref.Username != "" {
		out, err := call(ctx, p, idp.OpLookup, func(ctx context.Context, watch func(*cip.Options)) (*cip.AdminGetUserOutput, error) {
			return p.api.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(p.cfg.UserPoolID), Username: aws.String(ref.Username)}, watch)
		})
		if err != nil {
			return nil, err
		}
		return &user{username: aws.ToString(out.Username), enabled: out.Enabled, status: out.UserStatus}, nil
	}
	attr, value := "email", ref.Email
	if ref.ID != "" {
		attr, value = "sub", ref.ID
	}
	out, err := call(ctx, p, idp.OpLookup, func(ctx context.Context, watch func(*cip.Options)) (*cip.ListUsersOutput, error) {
		return p.api.ListUsers(ctx, &cip.ListUsersInput{UserPoolId: aws.String(p.cfg.UserPoolID), Limit: aws.Int32(2),
			Filter: aws.String(attr + " = " + apiclient.Quoted(value))}, watch)
	})
	if err != nil {
		return nil, err
	}
	switch len(out.Users) {
	case 0:
		return nil, &idp.Error{Kind: idp.UserNotFound, Op: idp.OpLookup, Message: "no user with that " + attr}
	case 1:
		u := out.Users[0]
		return &user{username: aws.ToString(u.Username), enabled: u.Enabled, status: u.UserStatus}, nil
	}
	return nil, &idp.Error{Kind: idp.AmbiguousUser, Op: idp.OpLookup, Message: "more than one user has that " + attr}
}

// usable says whether Cognito can send this user a reset code.
func usable(u *user) error {
	switch {
	case !u.enabled:
		return &idp.Error{Kind: idp.UserDisabled, Op: idp.OpLookup, Message: "the user is disabled"}
	case u.status == types.UserStatusTypeExternalProvider:
		return &idp.Error{Kind: idp.UserDisabled, Op: idp.OpLookup, Code: string(u.status),
			Message: "the user signs in through an external provider, which owns their password"}
	case u.status == types.UserStatusTypeUnconfirmed:
		return &idp.Error{Kind: idp.UserDisabled, Op: idp.OpLookup, Code: string(u.status),
			Message: "the user has not confirmed their account: Cognito sends a confirmation, not a reset"}
	}
	return nil
}
