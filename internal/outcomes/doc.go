// Package outcomes keeps the record each finished reset task leaves in
// Redis: producers read it to report how a reset ended, and workers read it
// before calling an IdP so that a task redelivered after the IdP accepted it
// (a crash before the acknowledgement) does not send a second email.
//
// Beside it, a task enqueued with an idempotency key has the fingerprint of
// the request it answers, recorded by the producer before the task is
// enqueued and kept by Put as long as the outcome: a request reusing the
// key for another user is refused, not taken for a duplicate.
package outcomes
