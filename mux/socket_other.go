//go:build !unix

package mux

import "net"

// socket would read a socket for batchConn; without syscall.Read there is
// none, and batchConn reads through the connection.
type socket struct{}

func socketOf(net.Conn) *socket { return nil }

func (*socket) read() (*[]byte, int, error) { panic("mux: no socket to read") }
