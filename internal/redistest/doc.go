// Package redistest starts real redis-server processes for tests, each on a
// free loopback port with nothing kept on disk, so tests can stop, restart
// and break their own Redis and pass on a fresh machine where none runs.
package redistest
