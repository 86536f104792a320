// Package testhttp is what tests that talk HTTP to a server share (the
// emulators' own tests, the real Keycloak's): a request sent the way a
// client would send it, and the whole answer read back.
package testhttp
