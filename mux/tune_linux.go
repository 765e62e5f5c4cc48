package mux

import (
	"net"
	"syscall"
)

// tcpNotSentLowat is TCP_NOTSENT_LOWAT from linux/tcp.h (not in package
// syscall).
const tcpNotSentLowat = 25

// lowatSetter returns a function that sets TCP_NOTSENT_LOWAT, the bytes
// the kernel may hold unsent, on conn or the TCP connection it wraps, or
// nil if there is none. Errors are ignored: the option only shortens
// queues.
func lowatSetter(conn net.Conn) func(int) {
	for {
		u, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		conn = u.NetConn()
	}
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
