// Package okta sends password resets through Okta's management API.
//
// Every reset first finds the user: by email with
// GET /api/v1/users?search=profile.email eq "…", by login or id with
// GET /api/v1/users/{login or id}. A user who is not active (STAGED or
// PROVISIONED: not yet activated; SUSPENDED; DEPROVISIONED) is skipped as
// user_disabled; none is user_not_found, several ambiguous_user.
//
// Then one of two calls, as configured, mails the user:
//
//   - reset (the default): POST /api/v1/users/{id}/lifecycle/reset_password?sendEmail=true.
//     The user moves to RECOVERY: their current password stops working at
//     once, and they cannot sign in until they finish the reset. After a
//     breach that is the point; RevokeSessions also ends their sessions.
//   - forgot: POST /api/v1/users/{id}/credentials/forgot_password?sendEmail=true,
//     the self-service "forgot password" mail. The current password keeps
//     working until the user sets a new one; Okta refuses it for users whose
//     password policy has no self-service recovery (E0000034).
//
// resetq authenticates with an API token (Authorization: SSWS …, the
// token's admin's rights) or as an OAuth 2.0 service app: a JWT signed with
// the app's private key (private_key_jwt) is traded at the org's
// authorization server for an access token with okta.users.read and
// okta.users.manage. Errors are Okta's document {errorCode: "E0000007",
// errorSummary, errorId, errorCauses}, mapped in errors.go; a 429 carries
// X-Rate-Limit-Reset (epoch seconds), which is how long to wait.
package okta
