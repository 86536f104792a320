// Package recording keeps a reset task's outcome where it belongs: a
// standalone task's in its own record (internal/outcomes), a campaign's
// task's in its campaign row (internal/campaigns). The worker picks one
// Recorder when a task starts and no longer asks which it has.
//
// The record is also the task's done-marker: read before the IdP is
// called, so a redelivered task is not sent again, and written before the
// task is acknowledged.
package recording
