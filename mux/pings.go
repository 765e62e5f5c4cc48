package mux

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
)

// yamux answers each ping from a goroutine of its own, which waits until
// the answer can be written. A peer that sends pings and never reads the
// answers held about 2.9 KB of a hub's memory per ping: 720 KB of pings
// held 168 MiB. pingWatch, on the reading side of a groupConn, counts the
// pings that arrive and the answers written, and ends the session when a
// peer has more than maxOwedPings unanswered. An honest peer has at most
// one in flight: yamux's keepalive sends one every KeepAlive and waits
// for its answer.
const maxOwedPings = 16

// More yamux frame types and flags (see its spec.md).
const (
	yamuxPing = 2
	yamuxSYN  = 1
	yamuxACK  = 2
)

// pingWatch follows the frames yamux reads, without changing a byte.
type pingWatch struct {
	hdr  [yamuxHeader]byte
	n    int    // bytes of hdr read
	body uint32 // bytes of a data frame's body still to come
	owed atomic.Int32
}

// read follows the bytes b of the incoming stream and reports an error
// once the peer owes more than maxOwedPings answers.
func (w *pingWatch) read(b []byte) error {
	for len(b) > 0 {
		if w.body > 0 {
			k := min(uint32(len(b)), w.body)
			w.body -= k
			b = b[k:]
			continue
		}
		k := copy(w.hdr[w.n:], b)
		w.n += k
		b = b[k:]
		if w.n < yamuxHeader {
			return nil
		}
		w.n = 0
		flags := binary.BigEndian.Uint16(w.hdr[2:])
		switch w.hdr[1] {
		case yamuxData:
			w.body = binary.BigEndian.Uint32(w.hdr[8:])
		case yamuxPing:
			if flags&yamuxSYN != 0 && w.owed.Add(1) > maxOwedPings {
				return fmt.Errorf("peer sent more than %d pings without reading the answers", maxOwedPings)
			}
		}
	}
	return nil
}

// wrote notes a frame header that yamux writes: a ping's answer pays one
// off.
func (w *pingWatch) wrote(p []byte) {
	if len(p) == yamuxHeader && p[1] == yamuxPing && binary.BigEndian.Uint16(p[2:])&yamuxACK != 0 {
		w.owed.Add(-1)
	}
}
