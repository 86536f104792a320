// Package producer is the enqueue side of resetq: the Go client that
// applications use to ask for a password reset and to learn how it ended.
//
// A Client validates each request, routes it to its provider's queue with
// the provider's retry settings, and derives the task ID from the
// idempotency key, so asking twice is reported as a duplicate and never
// sends two emails. Wait blocks until the task has an outcome.
package producer
