// Package deploysecret keeps the one secret every process of a deployment
// shares: producers, workers, the API and the CLI on the same Redis.
//
// resetq derives from it whatever must not be computable by someone who
// only knows the inputs: task IDs from idempotency keys and campaign rows,
// and fingerprints of requests. Each use takes its own subkey (Derive), so
// a value made for one purpose is never valid for another. Log lines that
// hash a user should take a subkey of their own: add a purpose constant
// beside TaskIDs and call Derive(secret, thatPurpose).
//
// The secret is generated on first use and kept in Redis under Key, set
// once with SET NX, so every process that shares the Redis agrees on it
// without configuration. It never expires; deleting it changes every task
// ID derived after that (see the README).
package deploysecret
