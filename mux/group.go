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
// The queue holds about one data frame (the pacer's size).
//
// On a client, frames of the control stream (yamux stream 1, see Accept)
// are the exception. They have a queue of their own, which goes first: a
// chat line typed while a file is sent waits for the write under way, not
// for the data queued behind it. And each of their writes, header and
// body, waits until its bytes are in the kernel and returns that write's
// error, as yamux's own writes did. A chat line sent on a connection that
// the hub has closed then fails (the header's write draws the hub's
// reset, and the body's write reports it), and the client sends it again
// after reconnecting, instead of the line vanishing into a socket. A
// client's control messages are few. The hub's are many (a result per
// file) and need no such care: a result lost with its connection is
// recovered by resuming, and a chat line to a client that has gone has no
// one to go to.
//
// yamux writes a frame's header and its body as two writes, and nothing
// may come between them on the wire: once a header has been sent, the
// next write sent is from its own queue (follow). Frames of different
// streams may pass each other; yamux keeps each stream's in order, and
// each stream is read by its own goroutine.

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
	urgent  []byte // a client's control-stream frames, sent first
	err     error  // the first failed write; every later Write returns it
	closing bool
	total   int64         // urgent bytes ever queued
	sent    int64         // urgent bytes ever written
	body    int           // bytes of the frame body that the next Write carries
	control bool          // the frame being written is on the control stream
	follow  *[]byte       // the queue whose bytes must go next (a sent header's body), or nil
	done    chan struct{} // closed when the sending goroutine ends

	pings  pingWatch   // only Read and frame use it (see pings.go)
	gate   *streamGate // counts and refuses the peer's streams (see streams.go)
	resets []byte      // the gate's resets, to queue at the next frame boundary
}

// Read reads what yamux receives, less the streams the gate refuses, and
// ends the session of a peer that floods it with pings (see pingWatch).
func (c *groupConn) Read(p []byte) (int, error) {
	n, err := c.gate.read(c.Conn, p)
	if perr := c.pings.read(p[:n]); perr != nil {
		c.Conn.Close()
		return n, perr
	}
	return n, err
}

// newGroupConn starts the sending goroutine on conn; Close ends it. The
// streams the peer opens are bounded by budget as well as maxPeerStreams
// (budget may be nil).
func newGroupConn(conn net.Conn, limit func() int, waitControl bool, budget StreamBudget) *groupConn {
	c := &groupConn{Conn: conn, limit: limit, waitControl: waitControl, done: make(chan struct{})}
	c.gate = newStreamGate(budget, c.resetStream)
	c.cond.L = &c.mu
	go c.send()
	return c
}

// Write queues p and returns; it waits first while the queue is full. A
// client's control frames wait instead until they are sent.
func (c *groupConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	urgent := c.waitControl && c.isControl(p)
	for c.err == nil && !c.closing && !urgent && len(c.queued) >= c.limit() {
		c.cond.Wait()
	}
	switch {
	case c.err != nil:
		return 0, c.err
	case c.closing:
		return 0, net.ErrClosed
	}
	c.frame(p)
	c.cond.Broadcast()
	if !urgent {
		c.queued = append(c.queued, p...)
		c.queueResets()
		return len(p), nil
	}
	c.urgent = append(c.urgent, p...)
	c.queueResets()
	c.total += int64(len(p))
	for end := c.total; c.err == nil && c.sent < end; {
		c.cond.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	return len(p), nil
}

// isControl reports whether p, the next write, belongs to a frame of the
// control stream, as frame will.
func (c *groupConn) isControl(p []byte) bool {
	if c.body > 0 {
		return c.control
	}
	return len(p) == yamuxHeader && binary.BigEndian.Uint32(p[4:]) == controlStream
}

// frame follows yamux's writes, a header and then (for a data frame with
// bytes) a body: which stream the frame being written is on, and whether
// its body is still to come.
func (c *groupConn) frame(p []byte) {
	if c.body > 0 {
		c.body = 0
		return
	}
	if len(p) != yamuxHeader {
		return // not yamux's: written by a test, or after a failure
	}
	c.pings.wrote(p)
	c.gate.wrote(p)
	c.control = binary.BigEndian.Uint32(p[4:]) == controlStream
	if p[1] == yamuxData {
		c.body = int(binary.BigEndian.Uint32(p[8:]))
	}
}

// resetStream queues a reset of the peer's stream id, which the gate
// refused, to be sent between frames.
func (c *groupConn) resetStream(id uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || c.closing || len(c.resets) >= maxPendingResets*yamuxHeader {
		return
	}
	c.resets = append(c.resets, resetFrame(id)...)
	c.queueResets()
	c.cond.Broadcast()
}

// queueResets moves the resets waiting to the queue, unless a frame's
// body is still to be written: nothing may come between it and its header.
func (c *groupConn) queueResets() {
	if len(c.resets) > 0 && c.body == 0 {
		c.queued = append(c.queued, c.resets...)
		c.resets = c.resets[:0]
	}
}

// yamux's frame header (see its spec.md): version, type, flags, stream ID,
// length; the control stream is the first the client opens.
const (
	yamuxHeader   = 12
	yamuxData     = 0
	controlStream = 1
)

// send writes what is queued, all of it at once, the urgent queue first,
// until Close has been called and the queues are empty, or a write fails.
func (c *groupConn) send() {
	defer close(c.done)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		q := c.next()
		for q == nil && !c.closing {
			c.cond.Wait()
			q = c.next()
		}
		if q == nil && c.closing { // whatever is left, in any order
			q = &c.urgent
			if len(c.urgent) == 0 {
				q = &c.queued
			}
		}
		buf := *q
		if len(buf) == 0 {
			return
		}
		if q == &c.queued {
			c.queued = c.spare[:0]
		} else {
			c.urgent = nil // rare and small: not worth a spare
		}
		// If the frame being written is unfinished and its header is in
		// buf, its body must be the next thing sent.
		c.follow = nil
		if c.body > 0 && (c.waitControl && c.control) == (q == &c.urgent) {
			c.follow = q
		}
		c.cond.Broadcast() // the queue has room again
		c.mu.Unlock()
		_, err := c.Conn.Write(buf)
		c.mu.Lock()
		if q == &c.queued {
			c.spare = buf[:0]
		} else {
			c.sent += int64(len(buf))
		}
		if err != nil {
			c.err = err
		}
		c.cond.Broadcast()
		if err != nil {
			return
		}
	}
}

// next returns the queue to send now, or nil if nothing may go yet.
func (c *groupConn) next() *[]byte {
	switch {
	case c.follow != nil:
		if len(*c.follow) > 0 {
			return c.follow
		}
		return nil
	case len(c.urgent) > 0:
		return &c.urgent
	case len(c.queued) > 0:
		return &c.queued
	}
	return nil
}

// Close sends what is queued, waiting at most closeGrace for a peer that
// does not read, then closes the connection.
func (c *groupConn) Close() error {
	c.gate.end()
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
