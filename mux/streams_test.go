package mux

import (
	"bytes"
	"io"
	"slices"
	"sync"
	"testing"
)

// countingBudget is a StreamBudget of limit streams that remembers the
// most it held.
type countingBudget struct {
	mu               sync.Mutex
	limit, held, top int
}

func (b *countingBudget) TakeStream() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held >= b.limit {
		return false
	}
	b.held++
	b.top = max(b.top, b.held)
	return true
}

func (b *countingBudget) ReleaseStream() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held == 0 {
		panic("ReleaseStream without TakeStream")
	}
	b.held--
}

func (b *countingBudget) holding() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held
}

// piecewise reads b in pieces of the given sizes (cycled), as a
// connection might return it.
type piecewise struct {
	b      []byte
	pieces []int
	i      int
}

func (r *piecewise) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := len(r.b)
	if len(r.pieces) > 0 {
		n = max(r.pieces[r.i%len(r.pieces)], 1)
		r.i++
	}
	n = copy(p, r.b[:min(n, len(r.b))])
	r.b = r.b[n:]
	return n, nil
}

// gateAll reads everything in b through a new gate with a budget of
// limit streams, in reads of the given sizes into buffers of size buf. It
// returns what passed and the streams reset.
func gateAll(t testing.TB, b []byte, limit int, pieces []int, buf int) ([]byte, []uint32, *countingBudget) {
	budget := &countingBudget{limit: limit}
	var resets []uint32
	g := newStreamGate(budget, func(id uint32) { resets = append(resets, id) })
	r := &piecewise{b: b, pieces: pieces}
	var out []byte
	p := make([]byte, buf)
	for range 1 << 20 {
		n, err := g.read(r, p)
		if n == 0 && err == nil {
			t.Fatal("read returned nothing and no error")
		}
		out = append(out, p[:n]...)
		if err != nil {
			return out, resets, budget
		}
	}
	t.Fatal("the gate never reached the end")
	return nil, nil, nil
}

func TestStreamGateDropsTheFramesOfRefusedStreams(t *testing.T) {
	data := func(id uint32, flags uint16, body string) []byte {
		return append(frameHeader(yamuxData, flags, id, uint32(len(body))), body...)
	}
	var in, want []byte
	add := func(frame []byte, passes bool) {
		in = append(in, frame...)
		if passes {
			want = append(want, frame...)
		}
	}
	add(frameHeader(yamuxWindowUpdate, yamuxSYN, 1, 0), true)               // the control stream: never counted
	add(data(1, 0, "hello"), true)                                          // its first message
	add(frameHeader(yamuxWindowUpdate, yamuxSYN, 3, 0), true)               // stream 3 opens: counted (1 of 2)
	add(data(5, yamuxSYN, "opens with bytes"), true)                        // stream 5 opens with data: 2 of 2
	add(data(7, yamuxSYN, "over the budget, dropped with its body"), false) // refused
	add(data(7, 0, "later bytes of 7 go to yamux, which drops them"), true)
	add(frameHeader(yamuxPing, yamuxSYN, 0, 9), true)         // not a stream's frame
	add(data(3, yamuxFIN, "3 closes its side"), true)         // 3 still counts: this side has not closed
	add(frameHeader(yamuxWindowUpdate, yamuxRST, 5, 0), true) // 5 is reset: no longer counted
	add(frameHeader(yamuxWindowUpdate, yamuxSYN, 9, 0), true) // so 9 may open
	add(frameHeader(yamuxWindowUpdate, yamuxSYN, 11, 0), false)

	for _, pieces := range [][]int{nil, {1}, {5}, {11, 13}, {12}, {7, 100, 3}} {
		for _, buf := range []int{1, 3, 12, 13, 4096} {
			got, resets, budget := gateAll(t, in, 2, pieces, buf)
			if !bytes.Equal(got, want) {
				t.Fatalf("reads of %v into %d bytes: passed\n%q\nwant\n%q", pieces, buf, got, want)
			}
			if !slices.Equal(resets, []uint32{7, 11}) {
				t.Errorf("reads of %v into %d bytes: reset %v, want [7 11]", pieces, buf, resets)
			}
			if budget.holding() != 2 || budget.top != 2 {
				t.Errorf("reads of %v into %d bytes: the budget holds %d (at most %d), want 2", pieces, buf, budget.holding(), budget.top)
			}
		}
	}
}

func TestStreamGateCountsAStreamUntilBothSidesCloseIt(t *testing.T) {
	budget := &countingBudget{limit: 100}
	g := newStreamGate(budget, func(uint32) { t.Error("a stream was refused") })
	read := func(h []byte) { g.admit(h) }
	for id := uint32(3); id <= 9; id += 2 {
		read(frameHeader(yamuxWindowUpdate, yamuxSYN, id, 0))
	}
	steps := []struct {
		what  string
		do    func()
		count int
	}{
		{"four opened", func() {}, 4},
		{"the peer closes 3", func() { read(frameHeader(yamuxData, yamuxFIN, 3, 0)) }, 4},
		{"this side closes 3 too", func() { g.wrote(frameHeader(yamuxWindowUpdate, yamuxFIN, 3, 0)) }, 3},
		{"this side closes 5 first", func() { g.wrote(frameHeader(yamuxData, yamuxFIN, 5, 0)) }, 3},
		{"then the peer", func() { read(frameHeader(yamuxWindowUpdate, yamuxFIN|yamuxACK, 5, 0)) }, 2},
		{"this side resets 7", func() { g.wrote(frameHeader(yamuxWindowUpdate, yamuxRST, 7, 0)) }, 1},
		{"a close of a stream never counted", func() { read(frameHeader(yamuxData, yamuxFIN, 41, 0)) }, 1},
		{"the session ends", g.end, 0},
	}
	for _, s := range steps {
		s.do()
		if got := g.counted(); got != s.count || budget.holding() != s.count {
			t.Fatalf("%s: the gate counts %d and the budget holds %d, want %d", s.what, got, budget.holding(), s.count)
		}
	}
	if g.opened(13) {
		t.Error("a stream opened after the session ended was counted")
	}
}

func TestStreamGateBoundsASessionWithoutBudget(t *testing.T) {
	var resets int
	g := newStreamGate(nil, func(uint32) { resets++ })
	for i := range maxPeerStreams + 10 {
		g.admit(frameHeader(yamuxWindowUpdate, yamuxSYN, uint32(3+2*i), 0))
	}
	if g.counted() != maxPeerStreams || resets != 10 {
		t.Errorf("counted %d and reset %d, want %d and 10", g.counted(), resets, maxPeerStreams)
	}
}

// The gate passes the same bytes, and refuses the same streams, however
// the connection splits them and whatever the caller's buffer, and never
// counts a stream it has not been given back beyond its budget.
func FuzzStreamGate(f *testing.F) {
	var seed []byte
	for id := uint32(1); id < 12; id++ {
		seed = append(seed, frameHeader(yamuxWindowUpdate, yamuxSYN, id, 0)...)
		seed = append(seed, frameHeader(yamuxData, yamuxSYN, id+100, 3)...)
		seed = append(seed, "abc"...)
		seed = append(seed, frameHeader(yamuxData, yamuxFIN, id, 1)...)
		seed = append(seed, 'z')
	}
	f.Add(seed, uint8(3), uint8(7), uint8(12))
	f.Add(seed[:40], uint8(1), uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, piece, piece2, buf uint8) {
		whole, wholeResets, _ := gateAll(t, b, 4, nil, 1<<16)
		got, resets, budget := gateAll(t, b, 4, []int{int(piece), int(piece2)}, max(int(buf), 1))
		if !bytes.Equal(got, whole) || !slices.Equal(resets, wholeResets) {
			t.Fatalf("in pieces of %d and %d into %d bytes: passed %q and reset %v; read whole: %q and %v",
				piece, piece2, buf, got, resets, whole, wholeResets)
		}
		if budget.top > 4 || len(got) > len(b) {
			t.Fatalf("the budget held %d of 4; passed %d of %d bytes", budget.top, len(got), len(b))
		}
	})
}

// counted is how many streams the gate counts.
func (g *streamGate) counted() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.open)
}
