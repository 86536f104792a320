// Package campaigns owns a bulk reset campaign's whole life: its import
// (Manager.Start reads the file once: the scan, the digest and the stored
// rows come out of the same pass), the Feeder every worker process runs
// to move its rows onto the queue a window at a time, pause, resume and
// cancel, and the report. The producer package is the public front over
// it, with its own types.
//
// Campaigns are kept in Redis, compactly enough that a million users fit
// in tens of megabytes, and so that a campaign survives every process
// restarting.
//
// The keys the scripts that move a row from one state to another touch
// share the hash tag {ID}, so those scripts run atomically (and on one
// Redis Cluster shard):
//
//	resetq:campaign:{ID}           hash: settings, status, counters
//	resetq:campaign:{ID}:out       string: 8 bytes per row, its outcome
//	resetq:campaign:{ID}:fed       bitmap: the row's task was put on the queue
//	resetq:campaign:{ID}:feeder    the feeder's lease
//
// The rows themselves, n*1000 … n*1000+999 deflated in each chunk, are
// written while the file is read, before the campaign's name is known (it
// may derive from the file's digest), so they live under the import's own
// tag: resetq:campaign-rows:{TAG}:<n>, TAG recorded in the campaign's hash.
// They are only ever read and written whole, never by a script. Campaigns
// imported by older builds keep theirs at resetq:campaign:{ID}:src:<n>.
//
// Two more keys list campaigns: resetq:campaigns (every one, by creation
// time) and resetq:campaigns:active (those a feeder still looks after).
//
// The source lives in Redis rather than in a file the feeder reads: every
// worker replica can feed any campaign, a restarted process on another host
// picks up where the last one stopped, and nothing but Redis needs backing
// up. Deflated, a million rows of addresses take about 10 MB.
//
// A row's outcome record is also the done-marker of its task: a worker
// reads it before calling the IdP and writes it before acknowledging.
//
// The counter "inflight" always equals the rows that are fed and have no
// outcome, and "cursor" is a row below which every row is fed or has an
// outcome; only the scripts here change them, so they stay exact.
package campaigns
