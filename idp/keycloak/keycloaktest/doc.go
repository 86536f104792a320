// Package keycloaktest is an in-process Keycloak emulator for tests and for
// `resetq dev`.
//
// It is a stateful HTTP server that answers the token endpoint and the admin
// user endpoints the way Keycloak 26 does, as recorded in
// reference/keycloak.md: the same statuses, the same four error body shapes,
// the same order of checks, 60 s master and 300 s realm token lifetimes,
// substring versus exact user search, lower-cased usernames, SMTP switched on
// or off, and roles on realm-management so 403s can be produced. Its own tests
// validate every admin request it receives against the official Keycloak
// admin OpenAPI document, so the emulator and resetq's client cannot drift
// from the real API together.
//
// Knobs make trouble on demand: latency, failing the next N requests with a
// status, 429 with Retry-After on every Nth request, expiring every token,
// and a request log and per-user reset counts to assert on.
//
// Where reference/keycloak.md records no measurement, the emulator's choice
// is marked [infer] in a comment.
package keycloaktest
