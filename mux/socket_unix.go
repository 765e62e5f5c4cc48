//go:build unix

package mux

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// socket reads a socket for batchConn, taking a pooled buffer only once
// the socket has bytes.
type socket struct {
	rc   syscall.RawConn
	conn net.Conn // what rc is under, for errors
	try  func(fd uintptr) bool

	// What the last try found.
	b   *[]byte
	n   int
	err error
}

// socketOf returns a reader of the socket under conn (conn itself, or
// what its NetConn methods lead to), or nil if there is none.
func socketOf(conn net.Conn) *socket {
	for c := conn; ; {
		if sc, ok := c.(syscall.Conn); ok {
			rc, err := sc.SyscallConn()
			if err != nil {
				return nil
			}
			s := &socket{rc: rc, conn: conn}
			s.try = s.tryRead // once: a method value costs an allocation
			return s
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = u.NetConn()
	}
}

// read waits until the socket has bytes (or an error, or its end), and
// only then takes a pooled buffer and reads into it; it returns the buffer
// cut to the bytes read, or no buffer and the error. It waits as the net
// package does, so deadlines and Close end the wait.
func (s *socket) read() (*[]byte, int, error) {
	werr := s.rc.Read(s.try)
	b, n, err := s.b, s.n, s.err
	s.b, s.err = nil, nil
	switch {
	case werr != nil: // the wait ended: a deadline, or Close
		var oe *net.OpError
		if errors.As(werr, &oe) {
			oe.Op = "read" // as a Read reports it, not "raw-read"
		}
		return nil, 0, werr
	case err != nil:
		readBufs.Put(b)
		return nil, 0, &net.OpError{Op: "read", Net: s.conn.LocalAddr().Network(),
			Source: s.conn.LocalAddr(), Addr: s.conn.RemoteAddr(), Err: os.NewSyscallError("read", err)}
	case n <= 0:
		readBufs.Put(b)
		return nil, 0, io.EOF
	}
	*b = (*b)[:n]
	return b, n, nil
}

// tryRead reads the socket into a pooled buffer, and gives the buffer
// back and asks to wait if it has nothing yet.
func (s *socket) tryRead(fd uintptr) bool {
	b := readBufs.Get().(*[]byte)
	for {
		s.n, s.err = syscall.Read(int(fd), *b)
		if s.err != syscall.EINTR {
			break
		}
	}
	if s.err == syscall.EAGAIN {
		readBufs.Put(b)
		return false // RawConn.Read waits until the socket is readable, then calls again
	}
	s.b = b
	return true
}
