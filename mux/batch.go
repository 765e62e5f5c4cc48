package mux

import (
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

// batchConn is the connection under TLS.
type batchConn struct {
	net.Conn
	mu       sync.Mutex
	batching bool
	buf      []byte
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.batching {
		return c.Conn.Write(p)
	}
	c.buf = append(c.buf, p...)
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
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > 1<<20 {
		c.buf = nil // a rare large write: do not keep its buffer
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// batchedTLS is a TLS connection whose every Write reaches the network in
// one system call.
type batchedTLS struct {
	*tls.Conn
	raw *batchConn
	wmu sync.Mutex // one Write at a time, so that batches do not mix
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
