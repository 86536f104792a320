// Package tasks is resetq's wire contract: the task type names, the version 1
// reset payload, its validation, the derivation of task IDs from idempotency
// keys, the queue each provider's tasks travel on, and the outcome record a
// finished task leaves behind. NewResetTask builds every reset task resetq
// enqueues, from an application or a campaign: payload, queue, task ID,
// retries and timeout (DefaultAttemptTimeout is the one default).
//
// It does no I/O. Producers and workers in different processes, written at
// different times, agree through this package alone.
package tasks
