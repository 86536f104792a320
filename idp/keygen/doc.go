// Package keygen sends password resets through Keygen (keygen.sh, cloud or
// self-hosted).
//
// A reset is POST /v1/accounts/{account}/passwords with
// {"meta":{"email":…,"deliver":…}}. With deliver true Keygen mails the user
// itself; with deliver false it only fires its user.password-reset webhook,
// for teams that send their own branded email. Keygen answers 204 whether or
// not a user has that address, on purpose; with VerifyUser the provider
// first looks the user up (GET …/users/{email}) so an unknown address ends
// skipped instead of silently "succeeded".
//
// Keygen answers 204 and nothing else; another 2xx halts the provider.
// With deliver false, Keygen sends the event only to webhook endpoints
// subscribed to user.password-reset, so Check (and a preflight before
// resets) refuses while none does. VerifyUser needs a token that sees
// staff: a product token's 404 for an admin is not user_not_found. Banned
// users are reset, as Keygen resets them.
//
// Auth is a long-lived admin or product token, or a token minted with
// HTTP Basic (email and password), with an explicit expiry, minted again
// before it expires and revoked by Release; minting is throttled by Keygen
// to 5 a minute, so only one mint is ever in flight. Errors are read from
// the JSON:API errors[0].code and detail; 429 honours Retry-After and
// X-RateLimit-Reset.
package keygen
