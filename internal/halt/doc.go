// Package halt records that a provider is halted and why, and resumes it.
//
// A halt is resetq's answer to an error that no retry can fix and that would
// fail every task alike (rejected credentials, a missing role, Keycloak
// without SMTP): the provider's queue is paused, so its tasks wait instead of
// burning into "failed", until an operator fixes the cause and resumes.
//
// Service is what the worker, `resetq provider resume` and the HTTP API use:
// it records and lifts halts through Registry, logs them, and emits
// provider.halted and provider.resumed, each once, from the caller that made
// the change. Every resume begins a new generation of the provider; an
// attempt carries the generation it began under, and a halt it asks for
// under an older one is refused (ErrSuperseded), so an error from before a
// resume cannot halt the provider again after it.
//
// Flag is what one worker process believes meanwhile: raised at once when
// it asks for a halt, settled from Redis by reads that overlapped none of
// its own.
package halt
