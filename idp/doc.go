// Package idp is the seam between resetq's worker and the identity providers
// it sends resets through.
//
// A provider implements Provider: one method that asks the IdP to send a
// reset to one user. When it cannot, it returns an *Error whose Kind says what
// went wrong in provider-neutral terms (the user is unknown, the credentials
// were rejected, the IdP is busy). Parsing the IdP's own statuses and bodies
// into a Kind happens once, inside the provider; deciding what a Kind means
// for the task (retry, skip, fail, halt) happens once, in the worker.
package idp
