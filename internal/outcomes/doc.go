// Package outcomes keeps the record each finished reset task leaves in
// Redis: producers read it to report how a reset ended, and workers read it
// before calling an IdP so that a task redelivered after the IdP accepted it
// (a crash before the acknowledgement) does not send a second email.
package outcomes
