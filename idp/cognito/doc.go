// Package cognito sends password resets through Amazon Cognito user pools,
// with the official AWS SDK (aws-sdk-go-v2's cognitoidentityprovider) and
// the standard AWS credential chain.
//
// Every reset first finds the user: by email with ListUsers
// (Filter email = "…"), by id with ListUsers (sub = "…"), by username with
// AdminGetUser. None is user_not_found, several ambiguous_user; a disabled
// user is user_disabled, and one Cognito cannot mail (signed in through an
// external provider, or still unconfirmed) too. Then, as configured:
//
//   - admin (the default): AdminResetUserPassword. Cognito mails a code and
//     puts the user in RESET_REQUIRED: their current password stops
//     working, and they cannot sign in until they set a new one with the
//     code (ConfirmForgotPassword).
//   - forgot: ForgotPassword, through an app client (with its secret's hash
//     when it has one): the same code by mail, and the current password
//     keeps working until the user sets a new one.
//
// The SDK's own retries are off: resetq retries, with its own backoff and
// knowing which calls may have sent a mail. Errors are the SDK's typed
// exceptions, mapped in errors.go: throttling and limits are waited out,
// UserNotFoundException skipped, NotAuthorizedException and IAM's refusals
// halt, a broken mail or SMS setup halts.
package cognito
