// Package halt records that a provider is halted and why, and resumes it.
//
// A halt is resetq's answer to an error that no retry can fix and that would
// fail every task alike (rejected credentials, a missing role, Keycloak
// without SMTP): the provider's queue is paused, so its tasks wait instead of
// burning into "failed", until an operator fixes the cause and resumes.
package halt
