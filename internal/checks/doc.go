// Package checks keeps the last check of each provider: when it ran, who
// ran it (an operator in the console, or `resetq provider check` on some
// machine), and what it found. One JSON value per provider, shared by every
// worker and command line through Redis, kept for TTL after the check.
//
// A check's lines are what the provider's check reported, already free of
// secrets; this package stores them as they are and adds nothing.
package checks
