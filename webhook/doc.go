// Package webhook sends resetq's events to the endpoints that subscribe to
// them, signed the Standard Webhooks way.
//
// An event is a small JSON envelope, {"type", "timestamp", "data"}, whose
// schema per type lives in schemas/. Its webhook-id derives from what the
// event is about (a task and its outcome, a provider and its halt), so every
// retry, and every re-emission after a crash, carries the same id and a
// receiver can drop duplicates.
//
// Emitting does not deliver: it enqueues one delivery task per subscribed
// endpoint on the webhooks queue, so a slow or dead receiver never delays a
// reset and a webhook retry never repeats one. The Deliverer signs each
// attempt (HMAC-SHA256 over id.timestamp.body, with every secret the
// endpoint has, for rotation), refuses private, loopback and link-local
// addresses at dial time unless the endpoint allows them, follows no
// redirects, retries on the Standard Webhooks schedule, honours Retry-After
// on 429/502/503/504, and disables an endpoint that answers 410 Gone.
//
// Secrets are read from the configuration at delivery time; they are never
// written to Redis.
package webhook
