// Package httpapi is resetq's HTTP producer API: applications in any
// language ask for resets and run campaigns through it. `resetq api` serves
// it, and a worker can mount it on its own listener (api.in_worker).
//
// Every request carries a bearer token from the configuration, compared in
// constant time; each token has scopes (resets, outcomes, campaigns, audit).
// Errors are RFC 9457 problem documents. docs/openapi.yaml describes the
// API, and a test checks real requests and responses against it.
//
// The API never says whether a user exists: a reset is accepted (202)
// before anyone looks the user up, and how it ended (which would say
// "user not found") is shown only to tokens with the outcomes scope.
package httpapi
