// Package audit keeps the audit trail: every reset request (accepted,
// duplicate, conflicting or refused, and why), every outcome and every
// operator action is one append-only Record with its time, actor, target
// and result.
//
// The trail is one Redis Stream (Key), shared by every worker, API and
// command line on that Redis. A stream entry's ID is its record's time, in
// milliseconds of the Redis server's clock, so the trail is in time order
// whichever process wrote it, and a time range is an ID range. Memory is
// bounded twice: each append trims the stream to about MaxRecords, and
// records older than Retention are trimmed at most once a minute by each
// process that appends.
//
// Export writes records as JSON lines or CSV; the command line (`resetq
// audit export`) and the HTTP API (GET /v1/audit) both call it, so the two
// cannot differ. ReadJSONL reads an export back.
//
// The package stores what it is given. Callers format users as the logs
// do: the address only with log.include_user, otherwise a keyed hash.
package audit
