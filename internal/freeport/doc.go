// Package freeport finds loopback ports for the servers tests and `resetq
// dev` start as separate processes (redis-server, Keycloak, Mailpit), and
// starts them again on new ports when another process took one first.
package freeport
