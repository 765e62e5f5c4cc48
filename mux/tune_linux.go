package mux

import (
	"net"
	"syscall"
)

// tcpNotSentLowat is TCP_NOTSENT_LOWAT from linux/tcp.h (not in package
// syscall).
const tcpNotSentLowat = 25

// lowatSetter returns a function that sets TCP_NOTSENT_LOWAT on conn, the
// bytes the kernel may hold unsent, or nil if conn is not TCP. Errors are
// ignored: the option only shortens queues.
func lowatSetter(conn net.Conn) func(int) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return func(n int) {
		raw.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat, n)
		})
	}
}
