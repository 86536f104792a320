// Package keygentest is an in-process Keygen emulator for tests and for
// `resetq dev`.
//
// It is a stateful HTTP server answering the routes a password-reset worker
// touches the way Keygen 1.8 does, as recorded in reference/keygen.md:
//
//   - POST /v1/accounts/{account}/passwords: no authentication (a bearer
//     is ignored); 204 for known and unknown emails alike (on purpose, so
//     the endpoint reveals nothing), banned users included; 400 for params
//     typed_params refuses; emails matched ignoring case; for a known user
//     a new reset token that replaces the previous one, an email unless
//     meta.deliver is false, and user.password-reset to each subscribed
//     webhook endpoint (GET …/webhook-endpoints lists them);
//   - the rack-attack throttles with their exact 429 headers and body:
//     5 resets per hour per email, 5 token mints per minute per email, 5
//     reset completions per 10 minutes per user, and optional per-second
//     and per-minute request limits;
//   - bearer authentication (TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED,
//     TOKEN_FORMAT_INVALID, with WWW-Authenticate), Keygen-Version echo and
//     INVALID_API_VERSION, MIME_TYPE_INVALID;
//   - POST …/tokens with HTTP Basic to mint a token (an admin's never
//     expires unless asked), DELETE …/tokens/{id} to revoke one,
//     GET …/users/{id|email} (product tokens see only role user; on
//     Enterprise Edition, environments by Keygen-Environment), GET …/me,
//     and POST …/users/{id|email}/actions/reset-password to complete a
//     reset, checked in Keygen's order (404 no user, 403 for a protected
//     account's managed user, 400, 404 on a wrong token, 401 after 24 h,
//     422 for a short password).
//
// Webhooks are signed with ed25519 as Keygen signs them (host without port,
// path with query); PublicKey returns the key, VerifyWebhook checks a
// delivery. A refused connection is never retried, as in Keygen. Knobs (latency, failing the next N requests, 429
// on every Nth, expiring every token, a request log) make trouble on demand.
//
// Where reference/keygen.md records no exact text, the emulator's choice is
// marked [infer] in a comment.
package keygentest
