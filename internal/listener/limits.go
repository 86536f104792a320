package listener

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits bound what one client can hold of a listener: how long it may
// take to send a request and to read the answer, how long an idle
// connection stays open, how large its headers may be, and how many
// connections are served at once. A zero field takes its default.
//
// Campaign uploads and streamed reports need longer than ReadTimeout and
// WriteTimeout; the API lifts both for those requests only, once their
// token is known (httpapi.Config.TransferTimeout).
type Limits struct {
	// ReadHeaderTimeout bounds the request line and headers (5s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the whole request, body included (10s): bodies
	// other than uploads are 64 KiB at most.
	ReadTimeout time.Duration
	// WriteTimeout bounds the handler and its answer, from the end of the
	// headers (60s).
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends nothing (60s).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers (64 KiB).
	MaxHeaderBytes int
	// MaxConns bounds the connections served at once (1024), below the
	// process's file limit; more wait to be accepted until one closes.
	MaxConns int
}

// DefaultLimits are the limits every listener runs with.
var DefaultLimits = Limits{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       10 * time.Second,
	WriteTimeout:      time.Minute,
	IdleTimeout:       time.Minute,
	MaxHeaderBytes:    64 << 10,
	MaxConns:          1024,
}

// WithDefaults returns l with its zero fields set from DefaultLimits.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.ReadHeaderTimeout, d.ReadHeaderTimeout)
	set(&l.ReadTimeout, d.ReadTimeout)
	set(&l.WriteTimeout, d.WriteTimeout)
	set(&l.IdleTimeout, d.IdleTimeout)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxConns <= 0 {
		l.MaxConns = d.MaxConns
	}
	return l
}

// server returns an http.Server that serves h within l.
func (l Limits) server(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout,
		WriteTimeout: l.WriteTimeout, IdleTimeout: l.IdleTimeout, MaxHeaderBytes: l.MaxHeaderBytes}
}

// limitListener accepts at most n connections at once: Accept waits for
// a slot, which a connection gives back when it is closed. The waiting
// connections queue in the kernel's backlog, not in this process.
type limitListener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { close(l.done) })
	return err
}

// slotConn gives its slot back once, on the first Close.
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
