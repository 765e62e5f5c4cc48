package mux

import (
	"crypto/ed25519"
	"crypto/tls"
	"net"
	"sync"
)

// TLS seals a large write as records of 16 KiB and writes each to the
// connection on its own: a 256 KiB data frame costs sixteen system calls.
// batchConn, under TLS, gathers the records of one TLS write and sends
// them in one call; batchedTLS, over it, marks where a write begins and
// ends. Writes TLS makes on its own (alerts, close_notify) pass through as
// they come, or with the records of a write under way.
//
// TLS also reads a record or two at a time, so a busy receiver made a
// system call per 30 KiB or so. batchConn reads as much as the kernel
// holds, up to readBuf, into a pooled buffer that it keeps only while
// bytes remain in it. Receiving 256 MiB, the hub made 1,916 reads instead
// of 8,491 (strace -c); on 1 GiB it spent 1.97 CPU-seconds instead of 2.06
// (medians of 6 alternating runs).
//
// A read that waits for the kernel must not hold that buffer: a quiet
// connection waits for as long as it is quiet. On a socket, batchConn
// takes the buffer only once the socket has bytes (socket.read); 200 busy
// clients and their hub in one process held 99 MB of buffers in waiting
// reads before (a heap profile of TestManyClientsChatAndUploadAtOnce).
// Another kind of connection (net.Pipe in tests) is read as before.

// batchConn is the connection under TLS.
type batchConn struct {
	net.Conn
	mu       sync.Mutex
	batching bool
	buf      *[]byte // the records of the write under way; nil between writes

	sock   *socket // the socket under Conn, or nil
	direct bool    // Conn is a channel: reads and writes cost no system call, so they go straight through
	in     *[]byte // bytes read and not yet taken; nil when empty
	off    int     // where they start in *in
}

func newBatchConn(conn net.Conn) *batchConn {
	return &batchConn{Conn: conn, sock: socketOf(conn), direct: isChannel(conn)}
}

// readBuf is the most one read takes from the kernel.
const readBuf = 256 << 10

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBuf); return &b }}

// writeBufs hold the records of a write while it is gathered: a
// connection holds one only during a write, not for its whole life. Each
// has room for a data frame of 256 KiB sealed as records of 16 KiB.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 264<<10); return &b }}

// Read is called by TLS, from one goroutine at a time.
func (c *batchConn) Read(p []byte) (int, error) {
	if c.in == nil {
		if len(p) >= readBuf || c.direct {
			return c.Conn.Read(p)
		}
		b, n, err := c.fill()
		if n == 0 {
			return 0, err
		}
		// An error that came with bytes comes again from the next read of
		// the connection, once these are taken.
		c.in, c.off = b, 0
	}
	n := copy(p, (*c.in)[c.off:])
	if c.off += n; c.off == len(*c.in) {
		*c.in = (*c.in)[:cap(*c.in)]
		readBufs.Put(c.in)
		c.in = nil
	}
	return n, nil
}

// fill reads what the connection holds into a pooled buffer, cut to the
// bytes read; with none, it returns no buffer.
func (c *batchConn) fill() (*[]byte, int, error) {
	if c.sock != nil {
		// A connection that read ahead of TLS (primedConn) gives those
		// bytes first.
		if b, ok := c.Conn.(interface{ buffered() int }); !ok || b.buffered() == 0 {
			return c.sock.read()
		}
	}
	b := readBufs.Get().(*[]byte)
	n, err := c.Conn.Read(*b)
	if n == 0 {
		readBufs.Put(b)
		return nil, 0, err
	}
	*b = (*b)[:n]
	return b, n, err
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.batching || c.direct {
		return c.Conn.Write(p)
	}
	if c.buf == nil {
		c.buf = writeBufs.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// NetConn returns the connection underneath.
func (c *batchConn) NetConn() net.Conn { return c.Conn }

func (c *batchConn) begin() {
	c.mu.Lock()
	c.batching = true
	c.mu.Unlock()
}

// end sends what was gathered since begin.
func (c *batchConn) end() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching = false
	if c.buf == nil {
		return nil
	}
	_, err := c.Conn.Write(*c.buf)
	if cap(*c.buf) <= 1<<20 { // a rare larger write does not keep its buffer
		*c.buf = (*c.buf)[:0]
		writeBufs.Put(c.buf)
	}
	c.buf = nil
	return err
}

// batchedTLS is a TLS connection whose every Write reaches the network in
// one system call.
type batchedTLS struct {
	*tls.Conn
	raw  *batchConn
	peer ed25519.PublicKey // the identity the other end proved: a member's on a members-only hub, or an end-to-end session's peer
	wmu  sync.Mutex        // one Write at a time, so that batches do not mix
}

func (c *batchedTLS) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.raw.begin()
	n, err := c.Conn.Write(p)
	if ferr := c.raw.end(); err == nil && ferr != nil {
		n, err = 0, ferr
	}
	return n, err
}

// isChannel reports whether conn is a channel (Stream.Channel), under
// whatever wraps it (primedConn, on the answering side).
func isChannel(conn net.Conn) bool {
	for {
		if _, ok := conn.(*channel); ok {
			return true
		}
		u, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			return false
		}
		conn = u.NetConn()
	}
}
