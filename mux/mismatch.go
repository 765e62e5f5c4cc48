package mux

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// One end with TLS and the other without (InsecureNoTLS, the command's
// --insecure-no-tls) would otherwise see only a connection closed in the
// handshake. The first bytes each end sends tell which it speaks:
//
//   - a TLS client's ClientHello starts with the TLS handshake record
//     type, 0x16;
//   - a client without TLS starts with a yamux frame, whose first byte is
//     yamux's version, 0.
//
// A hub that sees the other one says so in the first bytes the client
// reads, then closes:
//
//   - a hub without TLS answers a ClientHello with a yamux go-away frame
//     (protocol error): 00 03 00 00 00 00 00 00 00 00 00 01. crypto/tls
//     cannot read it as a record and reports its first five bytes
//     (tls.RecordHeaderError), which start with yamux's version, 0, where
//     a TLS record starts with its type (20-24);
//   - a TLS hub answers a yamux frame with a TLS alert record (fatal,
//     protocol_version): 15 03 03 00 02 02 46. Its first byte, 0x15, is
//     no yamux version; the client without TLS looks at the first byte it
//     reads (plainConn) before yamux does.
const (
	recordHandshake = 0x16 // first byte of a ClientHello
	recordAlert     = 0x15 // first byte of a TLS alert
	yamuxVersion    = 0    // first byte of every yamux frame
)

var (
	yamuxGoAway     = []byte{yamuxVersion, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	tlsVersionAlert = []byte{recordAlert, 3, 3, 0, 2, 2, 70}
)

// ErrTLSMismatch reports that one end of a connection has TLS off
// (InsecureNoTLS) and the other on.
var ErrTLSMismatch = errors.New("TLS is on at one end only")

// hubMismatch checks the first byte a client sent against the hub's
// configuration. If the client speaks the other way, it tells the client
// (see above) and returns why it refuses it.
func hubMismatch(conn net.Conn, first byte, cfg Config) error {
	switch {
	case cfg.InsecureNoTLS && first == recordHandshake:
		tell(conn, yamuxGoAway)
		return fmt.Errorf("%w: the client speaks TLS and this hub has it off (--insecure-no-tls)", ErrTLSMismatch)
	case !cfg.InsecureNoTLS && first == yamuxVersion:
		tell(conn, tlsVersionAlert)
		return fmt.Errorf("%w: the client has it off (--insecure-no-tls) and this hub speaks TLS", ErrTLSMismatch)
	}
	return nil
}

// noticeLinger bounds how long tell waits for the client to stop sending.
const noticeLinger = 500 * time.Millisecond

// tell writes the notice b to a client that speaks the other way and
// makes sure it can read it: the hub stops sending (a FIN after b), then
// reads and drops what the client still sends, for at most noticeLinger
// and 64 KiB. Closing at once, with the client's bytes unread, would make
// the kernel answer them with a reset, and a reset can destroy b before
// the client has read it.
func tell(conn net.Conn, b []byte) {
	conn.Write(b)
	c := conn
	for {
		if hc, ok := c.(interface{ CloseWrite() error }); ok {
			hc.CloseWrite()
			break
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	conn.SetReadDeadline(time.Now().Add(noticeLinger))
	io.Copy(io.Discard, io.LimitReader(conn, 64<<10))
}

// errHubWithoutTLS is a TLS client's error for a hub without TLS.
var errHubWithoutTLS = fmt.Errorf("%w: the hub has it off (--insecure-no-tls) and this client on; both ends need the same", ErrTLSMismatch)

// hubWithoutTLS reports whether a TLS handshake failed on a yamux frame
// where the hub's first record should be.
func hubWithoutTLS(err error) bool {
	var rh tls.RecordHeaderError
	return errors.As(err, &rh) && rh.RecordHeader[0] == yamuxVersion
}

// plainConn is a client's connection without TLS, whose first byte read
// is checked for a TLS hub's answer (see above) before yamux reads it.
// yamux's one reading goroutine reads it.
type plainConn struct {
	net.Conn
	checked bool
	tls     *atomic.Bool // set when the hub answered with TLS
}

// errHubWithTLS is a client's error, without TLS, for a hub with TLS.
var errHubWithTLS = fmt.Errorf("%w: the hub speaks TLS and this client has it off (--insecure-no-tls); both ends need the same", ErrTLSMismatch)

func (c *plainConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if !c.checked && n > 0 {
		c.checked = true
		if b[0] == recordAlert || b[0] == recordHandshake {
			c.tls.Store(true)
			return 0, errHubWithTLS
		}
	}
	return n, err
}

// NetConn returns the connection underneath, for the socket options that
// need it (see lowatSetter).
func (c *plainConn) NetConn() net.Conn { return c.Conn }
