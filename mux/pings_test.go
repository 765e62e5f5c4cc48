package mux

import (
	"encoding/binary"
	"testing"
)

// frameHeader is a yamux frame header: version 0, type, flags, stream,
// length.
func frameHeader(typ byte, flags uint16, stream, length uint32) []byte {
	b := []byte{0, typ}
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint32(b, stream)
	return binary.BigEndian.AppendUint32(b, length)
}

// countPings feeds b to a new pingWatch in pieces of the given sizes
// (cycled), and returns the pings it counted, or -1 if it refused.
func countPings(b []byte, pieces []int) int {
	var w pingWatch
	for i := 0; len(b) > 0; i++ {
		n := len(b)
		if len(pieces) > 0 {
			n = min(max(pieces[i%len(pieces)], 1), len(b))
		}
		if w.read(b[:n]) != nil {
			return -1
		}
		b = b[n:]
	}
	return int(w.owed.Load())
}

func TestPingWatchCountsPingsWhateverTheReads(t *testing.T) {
	var stream []byte
	stream = append(stream, frameHeader(yamuxData, 0, 1, 5)...)
	stream = append(stream, frameHeader(yamuxPing, yamuxSYN, 0, 7)[:5]...) // a body that looks like a ping
	stream = append(stream, frameHeader(yamuxPing, yamuxSYN, 0, 1)...)
	stream = append(stream, frameHeader(yamuxPing, yamuxACK, 0, 2)...) // an answer to our own ping
	stream = append(stream, frameHeader(1, yamuxSYN, 3, 0)...)         // a window update
	stream = append(stream, frameHeader(yamuxPing, yamuxSYN, 0, 3)...)
	for _, pieces := range [][]int{nil, {1}, {3, 7}, {12}, {13, 1, 100}} {
		if got := countPings(stream, pieces); got != 2 {
			t.Errorf("read in pieces %v: %d pings, want 2", pieces, got)
		}
	}
	var flood []byte
	for i := range maxOwedPings + 1 {
		flood = append(flood, frameHeader(yamuxPing, yamuxSYN, 0, uint32(i))...)
	}
	if got := countPings(flood, nil); got != -1 {
		t.Errorf("%d pings unanswered: counted %d, want the session refused", maxOwedPings+1, got)
	}
	var w pingWatch
	w.read(flood[:12*maxOwedPings])
	w.wrote(frameHeader(yamuxPing, yamuxACK, 0, 0))
	if err := w.read(flood[12*maxOwedPings:]); err != nil {
		t.Errorf("a ping after one was answered: %v", err)
	}
}

// FuzzPingWatch: however the incoming bytes are cut into reads, the
// watch counts the same pings (it follows frames, not reads), and it
// never panics.
func FuzzPingWatch(f *testing.F) {
	f.Add(append(frameHeader(yamuxData, 0, 1, 2), 'h', 'i'), uint8(5))
	f.Add(frameHeader(yamuxPing, yamuxSYN, 0, 9), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, piece uint8) {
		whole, cut := countPings(b, nil), countPings(b, []int{int(piece)})
		if whole != cut {
			t.Fatalf("whole: %d, in pieces of %d: %d", whole, piece, cut)
		}
	})
}
