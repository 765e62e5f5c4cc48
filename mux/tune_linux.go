package mux

import (
	"net"
	"syscall"
)

// tcpNotSentLowat is TCP_NOTSENT_LOWAT from linux/tcp.h (not in package
// syscall).
const tcpNotSentLowat = 25

// tune sets TCP_NOTSENT_LOWAT on a TCP connection, so that the kernel
// holds few unsent bytes and a control message is sent soon after it is
// written. Errors are ignored: the option only shortens queues.
func tune(conn net.Conn, cfg Config) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat, cfg.notSentLowat())
	})
}
