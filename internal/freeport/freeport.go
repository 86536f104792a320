package freeport

import (
	"errors"
	"net"
)

// ErrTaken marks a start that failed because another process bound one of
// its ports between Loopback finding it and the server binding it.
var ErrTaken = errors.New("a port was taken by another process")

// Loopback asks the kernel for a free loopback port. Another process can
// take it before it is bound: see Start. A test that wants a port nobody
// listens on gets one this way too.
func Loopback() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start calls start with n free loopback ports, and again with new ones
// while it fails with ErrTaken, up to attempts calls in all. attempt counts
// from 1. It returns start's last error.
func Start[T any](n, attempts int, start func(ports []int, attempt int) (T, error)) (T, error) {
	var zero T
	for attempt := 1; ; attempt++ {
		ports := make([]int, n)
		for i := range ports {
			p, err := Loopback()
			if err != nil {
				return zero, err
			}
			ports[i] = p
		}
		v, err := start(ports, attempt)
		if err == nil || attempt >= attempts || !errors.Is(err, ErrTaken) {
			return v, err
		}
	}
}
