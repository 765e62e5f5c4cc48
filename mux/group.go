package mux

import (
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// yamux writes each frame as two writes (its 12-byte header, then a copy of
// its body) from one goroutine, and a stream's Write returns only once that
// goroutine has written its frame. Under TLS every write is sealed and sent
// on its own, so a data frame cost two records and two system calls, and a
// file's sender waited for each frame to be encrypted and sent before
// reading and hashing the next bytes.
//
// groupConn, between yamux and TLS, queues writes and sends them from a
// goroutine of its own, as one write of everything queued meanwhile (group
// commit). A frame's header and body go out as one; under load a file's
// small frames (its stream's opening, header, trailer and close) share one
// record and one system call with others; and encryption overlaps with the
// sender's reading and hashing instead of following it. An idle connection
// sends a lone write at once: nothing waits for company.
//
// The queue holds about one data frame (the pacer's size), so a control
// message queued behind it waits for at most that much more.
//
// On a client, frames of the control stream (yamux stream 1, see Accept)
// are the exception: each of their writes, header and body, waits until
// its bytes are in the kernel and returns that write's error, as yamux's
// own writes did. A chat line sent on a connection that the hub has closed
// then fails (the header's write draws the hub's reset, and the body's
// write reports it), and the client sends it again after reconnecting,
// instead of the line vanishing into a socket. A client's control messages
// are few. The hub's are many (a result per file) and need no such care:
// a result lost with its connection is recovered by resuming, and a chat
// line to a client that has gone has no one to go to.

// closeGrace bounds how long Close waits for queued bytes to be sent.
const closeGrace = 500 * time.Millisecond

// groupConn is the connection yamux writes to.
type groupConn struct {
	net.Conn
	limit       func() int // bytes queued beyond which Write waits
	waitControl bool       // control frames wait until written (see above)

	mu      sync.Mutex
	cond    sync.Cond // signals bytes queued, bytes sent, an error or Close
	queued  []byte
	spare   []byte // the buffer last sent, reused for the next queue
	err     error  // the first failed write; every later Write returns it
	closing bool
	total   int64         // bytes ever queued
	sent    int64         // bytes ever written
	body    int           // bytes of the frame body that the next Write carries
	control bool          // the frame being written is on the control stream
	done    chan struct{} // closed when the sending goroutine ends
}

// newGroupConn starts the sending goroutine on conn; Close ends it.
func newGroupConn(conn net.Conn, limit func() int, waitControl bool) *groupConn {
	c := &groupConn{Conn: conn, limit: limit, waitControl: waitControl, done: make(chan struct{})}
	c.cond.L = &c.mu
	go c.send()
	return c
}

// Write queues p and returns; it waits first while the queue is full.
func (c *groupConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && !c.closing && len(c.queued) >= c.limit() {
		c.cond.Wait()
	}
	switch {
	case c.err != nil:
		return 0, c.err
	case c.closing:
		return 0, net.ErrClosed
	}
	c.queued = append(c.queued, p...)
	c.total += int64(len(p))
	c.cond.Broadcast()
	if !c.frame(p) || !c.waitControl {
		return len(p), nil
	}
	for end := c.total; c.err == nil && c.sent < end; {
		c.cond.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	return len(p), nil
}

// frame follows yamux's writes, a header and then (for a data frame with
// bytes) a body, and reports whether p belongs to a control-stream frame.
func (c *groupConn) frame(p []byte) bool {
	if c.body > 0 {
		c.body = 0
		return c.control
	}
	if len(p) != yamuxHeader {
		return false // not yamux's: written by a test, or after a failure
	}
	c.control = binary.BigEndian.Uint32(p[4:]) == controlStream
	if p[1] == yamuxData {
		c.body = int(binary.BigEndian.Uint32(p[8:]))
	}
	return c.control
}

// yamux's frame header (see its spec.md): version, type, flags, stream ID,
// length; the control stream is the first the client opens.
const (
	yamuxHeader   = 12
	yamuxData     = 0
	controlStream = 1
)

// send writes what is queued, all of it at once, until Close has been
// called and the queue is empty, or a write fails.
func (c *groupConn) send() {
	defer close(c.done)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.queued) == 0 && !c.closing {
			c.cond.Wait()
		}
		if len(c.queued) == 0 {
			return
		}
		buf := c.queued
		c.queued = c.spare[:0]
		c.cond.Broadcast() // the queue has room again
		c.mu.Unlock()
		_, err := c.Conn.Write(buf)
		c.mu.Lock()
		c.spare = buf[:0]
		c.sent += int64(len(buf))
		if err != nil {
			c.err = err
		}
		c.cond.Broadcast()
		if err != nil {
			return
		}
	}
}

// Close sends what is queued, waiting at most closeGrace for a peer that
// does not read, then closes the connection.
func (c *groupConn) Close() error {
	c.mu.Lock()
	first := !c.closing
	c.closing = true
	c.cond.Broadcast()
	c.mu.Unlock()
	if first {
		c.Conn.SetWriteDeadline(time.Now().Add(closeGrace))
	}
	<-c.done
	return c.Conn.Close()
}

// NetConn returns the connection underneath.
func (c *groupConn) NetConn() net.Conn { return c.Conn }
