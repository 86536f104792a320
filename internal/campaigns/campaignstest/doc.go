// Package campaignstest runs campaign feeders in tests, as every worker
// process runs one, and writes the files campaigns are started from.
package campaignstest
