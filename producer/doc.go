// Package producer is the enqueue side of resetq: the Go client that
// applications use to ask for a password reset and to learn how it ended,
// and the campaigns that reset every user of a file.
//
// A Client validates each request, routes it to its provider's queue with
// the provider's retry settings, and derives the task ID from the
// idempotency key (keyed with the deployment's secret, within the caller's
// scope), so asking twice is reported as a duplicate and never sends two
// emails, while reusing a key for a different request is refused with
// ErrIdempotencyConflict. Wait blocks until the task has an outcome.
//
// StartCampaign reads a CSV or JSON-lines file once, checking and storing
// its rows compactly in Redis as it goes, and registers the campaign; the
// feeder every worker process runs (internal/campaigns, started by
// `resetq worker`) moves its rows onto the provider's campaign queue a
// window at a time. PauseCampaign, ResumeCampaign, CancelCampaign and
// WriteReport steer and report on it. Campaign, Scan and the other types
// here are the package's own; the machinery behind them is internal. The
// HTTP API over all of this is in producer/httpapi.
package producer
