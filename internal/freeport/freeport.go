// Package freeport finds a loopback port for a server a test or `resetq
// dev` starts as a separate process (redis-server, Keycloak, Mailpit).
package freeport

import "net"

// Loopback asks the kernel for a free loopback port. Another process can
// take it before it is bound: callers that start a server retry, and a
// test that wants a port nobody listens on gets one that way too.
func Loopback() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
