package hubtest

import (
	"context"
	"net"
	"sync"
	"time"
)

// acceptLog is the listener a hub that Start runs serves on: it notes
// when the hub accepted each connection, by the client's address, so
// that a test can time what the hub does with a connection from the
// moment the hub has it (Hub.Accepted). The hub's clocks (its handshake
// timeouts) start when it accepts, and on a loaded machine a connection
// can wait in the kernel's queue for seconds after the client's dial
// has returned.
type acceptLog struct {
	net.Listener
	mu    sync.Mutex
	conns map[string]*acceptance // by the client's address: its latest connection
}

// acceptance is when the hub accepted a connection, once it has.
type acceptance struct {
	at   time.Time     // zero until accepted
	done chan struct{} // closed when accepted
}

func newAcceptLog(ln net.Listener) *acceptLog {
	return &acceptLog{Listener: ln, conns: map[string]*acceptance{}}
}

func (l *acceptLog) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err == nil {
		l.accepted(conn.RemoteAddr().String(), time.Now())
	}
	return conn, err
}

func (l *acceptLog) accepted(client string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.conns[client]
	if a == nil || !a.at.IsZero() { // nobody waits, or for an earlier connection from the same port
		a = &acceptance{done: make(chan struct{})}
		l.conns[client] = a
	}
	a.at = at
	close(a.done)
}

// lookup returns the latest acceptance of a connection from client made
// at or after since, or one to wait on if there is none yet.
func (l *acceptLog) lookup(client string, since time.Time) *acceptance {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.conns[client]
	if a == nil || !a.at.IsZero() && a.at.Before(since) {
		a = &acceptance{done: make(chan struct{})}
		l.conns[client] = a
	}
	return a
}

// Accepted waits until the hub has accepted the connection from client
// (the LocalAddr of a connection dialled to Addr), one dialled at or
// after since, and returns when the hub accepted it; or ctx's error, if
// ctx ends first.
func (h *Hub) Accepted(ctx context.Context, client net.Addr, since time.Time) (time.Time, error) {
	a := h.accepts.lookup(client.String(), since)
	select {
	case <-a.done:
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
	h.accepts.mu.Lock()
	defer h.accepts.mu.Unlock()
	return a.at, nil
}
