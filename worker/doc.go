// Package worker is the consume side of resetq: an Asynq server per
// provider over its two queues (its own, and its campaigns', served only when
// the first is empty), the reset handler, Classify, and what each decision
// means to Asynq (retry.go). The machinery is in capability packages:
// internal/ratelimit (the provider's and each campaign's shared limits),
// internal/dupwindow (the duplicate window), internal/recording (where a
// task's outcome goes) and internal/halt (halting and resuming a provider).
//
// A reset task ends in exactly one outcome: succeeded, skipped (nothing to do
// for this user) or failed (the request is wrong, or retries ran out).
// Errors come back from a provider as *idp.Error values, and Classify turns
// each into an Action: retry, skip, fail, or halt. Retries happen first
// inside the attempt (jittered exponential backoff that honours Retry-After,
// bounded well inside the attempt timeout), then across attempts through
// Asynq's RetryDelayFunc, which honours a longer Retry-After. Rate-limit
// waits and halts are not failures: they do not use up a task's retries,
// and a rate-limit wait on a task's last try, which Asynq archives, is put
// back in its queue when the wait is over.
//
// A halt pauses the provider's queue and keeps its tasks: they run again
// after `resetq provider resume`. Before acknowledging a reset the IdP
// accepted, the worker records the task's outcome, and it checks that record
// before calling the IdP, so a redelivered task does not send a second email.
// A campaign's task keeps that record in its campaign's row instead, and
// gives its row back when the campaign is paused or cancelled.
//
// The worker never imports a concrete provider: cmd/resetq builds them and
// hands them over as idp.Provider values.
package worker
