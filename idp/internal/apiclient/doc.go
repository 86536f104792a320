// Package apiclient is the HTTP plumbing every provider shares: one call
// made and read in full (Client.Do), the bearer-token loop that fetches a
// fresh token once when the IdP answers 401 (WithToken), the token cache
// behind it (TokenCache), scrubbing the provider's own credentials out of
// any answer before it can reach an error or a log, excerpts of what the
// IdP said, and the Retry-After and rate-limit headers.
//
// A provider package keeps what is its own: its URLs, its bodies and its
// table of statuses and error codes.
package apiclient
