//go:build !linux

package mux

import "net"

// lowatSetter returns nil where TCP_NOTSENT_LOWAT is not known.
func lowatSetter(net.Conn) func(int) { return nil }
