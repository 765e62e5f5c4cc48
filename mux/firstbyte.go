package mux

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// firstByte waits, for at most d (and never past the handshake's own
// deadline), for the first byte a client sends, and returns conn with that
// byte put back in front of what it reads next. A connection that sends
// nothing at all is the cheapest way to hold one of the hub's handshake
// slots, so it gets a short deadline of its own; a client that has begun
// its handshake gets the rest of the handshake timeout. It returns the
// byte too (see hubMismatch). On failure it returns conn itself and the
// reason.
func (c *handshakeClock) firstByte(conn net.Conn, d time.Duration) (net.Conn, byte, error) {
	dl := time.Now().Add(d)
	if !dl.Before(c.deadline) {
		dl = c.deadline
	}
	c.setReadDeadline(dl)
	var b [1]byte
	_, err := io.ReadFull(conn, b[:])
	if err != nil {
		var ne net.Error
		switch {
		case c.ctx.Err() != nil:
			return conn, 0, c.err(c.ctx.Err())
		case errors.As(err, &ne) && ne.Timeout() && time.Now().Before(c.deadline):
			return conn, 0, fmt.Errorf("handshake: nothing received for %s: %w", d, os.ErrDeadlineExceeded)
		}
		return conn, 0, c.err(err)
	}
	c.setReadDeadline(c.deadline)
	return &primedConn{Conn: conn, first: b[:]}, b[0], nil
}

// setReadDeadline moves conn's read deadline to dl, unless the handshake's
// context has ended: its hook may already have expired the deadline, and
// that must stand. The hook runs only after the context has ended, so
// whichever of the two ran last, the deadline ends up right.
func (c *handshakeClock) setReadDeadline(dl time.Time) {
	c.conn.SetReadDeadline(dl)
	if c.ctx.Err() != nil {
		c.conn.SetDeadline(time.Unix(1, 0))
	}
}

// primedConn is a connection whose first bytes were read ahead (to see
// that the client says something) and are returned again by its first
// reads. Reads are not concurrent: TLS, and after it yamux's one reader,
// read in turn.
type primedConn struct {
	net.Conn
	first []byte
}

func (c *primedConn) Read(b []byte) (int, error) {
	if len(c.first) > 0 && len(b) > 0 {
		n := copy(b, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// buffered returns how many of the bytes read ahead are still to be read.
func (c *primedConn) buffered() int { return len(c.first) }

// NetConn returns the connection underneath, for the socket options that
// need it (see lowatSetter, socketOf).
func (c *primedConn) NetConn() net.Conn { return c.Conn }
