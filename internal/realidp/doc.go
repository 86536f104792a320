// Package realidp fetches, builds and runs the real servers resetq is proven
// against: Keycloak's server distribution from Maven Central, Mailpit (a
// real SMTP server with an HTTP API) built through the Go module proxy, and
// a small SMTP server of its own that stalls or refuses on demand.
//
// Downloads and builds are cached under CacheDir, a git-ignored folder, so
// only the first run pays for them. Every process started here runs in its
// own process group, dies with the process that started it, and is stopped
// by Stop; a server that does not become ready in time is stopped and its
// log's tail is part of the error.
//
// `make e2e` runs the real-server suites with it, and `make keycloak` (the
// devstack command) starts Keycloak and Mailpit for a newcomer to try resetq
// against.
package realidp
