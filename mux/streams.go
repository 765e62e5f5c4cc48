package mux

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"github.com/muxfer/muxfer/protocol"
)

// Every stream a peer opens comes with a receive window that yamux fills
// from the peer's bytes until someone reads them: 256 KiB as it opens, up
// to the session's window (at most 1 MiB) once it is read. A stream that
// is not read (one waiting in yamux's accept backlog, or one relayed to
// someone who stops reading) holds that much of the receiver's memory for
// as long as it stays open, and yamux does not bound how many a peer may
// open beyond its accept backlog. A hub whose clients opened 64 accepted
// and 128 waiting streams in each of 32 sessions from one address would
// hold about 3 GiB.
//
// streamGate, on the reading side of a groupConn, counts the streams the
// peer opens (a frame with yamux's SYN flag) before yamux sees them, and
// refuses one beyond a bound: it drops the opening frame, body and all, so
// that yamux never makes the stream, and answers it with a reset, as
// yamux does for a stream over its backlog. Later frames of a refused
// stream reach yamux, which drops them as frames of a stream it does not
// know. A stream counts until both sides have closed it, or either has
// reset it (seen in the frames read and written), or the session ends.
//
// Each session may have at most maxPeerStreams open; the hub's
// StreamBudget also bounds them per source address and in all.

// maxPeerStreams bounds the streams a peer may have open in one session:
// the protocol.MaxDataStreams a sender may have open, and as many again
// that it has closed and the receiver has not yet finished reading.
const maxPeerStreams = 2 * protocol.MaxDataStreams

// maxPendingResets bounds the resets waiting to be written: a peer that
// opens streams beyond its bound faster than it reads the answers does not
// get more.
const maxPendingResets = 1024

// More yamux frame types and flags (see its spec.md).
const (
	yamuxWindowUpdate = 1
	yamuxFIN          = 4
	yamuxRST          = 8
)

// ErrStreamRefused reports a data stream that the other side reset as it
// opened: the hub does so beyond its bound of streams open at once, for one
// address or in all.
var ErrStreamRefused = errors.New("data stream refused: the other side has too many open (from this address, or in all); try again when fewer are")

// StreamBudget bounds, on the hub's side, the data streams that clients
// may have open at once beyond one session: per source address and in all.
// A session takes one for each stream its peer opens and gives it back
// when the stream has ended. Its methods may be called from several
// goroutines.
type StreamBudget interface {
	// TakeStream counts one more stream and reports true, or reports
	// false, counting nothing, when the budget is spent.
	TakeStream() bool
	// ReleaseStream gives back one stream that TakeStream counted.
	ReleaseStream()
}

// Which sides of a counted stream have closed it.
const (
	peerClosed  = 1
	localClosed = 2
)

// streamGate follows the frames read and written (see above).
type streamGate struct {
	budget StreamBudget // nil: only maxPeerStreams
	reset  func(id uint32)

	// The reading side's, used by Read only.
	hdr  [yamuxHeader]byte // a header split between reads, held back
	n    int               // bytes of hdr held
	pass [yamuxHeader]byte // a held header that passed
	out  []byte            // what of pass is still to be read
	err  error             // the error of the read that completed a held header
	body uint32            // bytes of the current data frame's body still to come
	drop bool              // whether they are dropped

	mu      sync.Mutex
	open    map[uint32]uint8    // counted streams: which sides have closed them
	opening map[uint32]*opening // streams this side opened, until their Stream takes them
	ended   bool
}

// opening is how the peer answered a stream this side opened: done is
// closed once it has, and err is then nil (accepted), ErrStreamRefused or
// ErrClosed (the session ended first).
type opening struct {
	done  chan struct{}
	err   error
	taken bool // by its Stream: the gate forgets it once it is answered too
}

func (o *opening) answer(err error) {
	select {
	case <-o.done:
	default:
		o.err = err
		close(o.done)
	}
}

func newStreamGate(budget StreamBudget, reset func(id uint32)) *streamGate {
	return &streamGate{budget: budget, reset: reset, open: map[uint32]uint8{}, opening: map[uint32]*opening{}}
}

// read reads from r into p what yamux may see: the bytes read, less the
// frames of refused streams. It returns no bytes only with an error.
func (g *streamGate) read(r io.Reader, p []byte) (int, error) {
	for {
		if len(g.out) > 0 {
			n := copy(p, g.out)
			g.out = g.out[n:]
			return n, nil
		}
		if g.err != nil {
			return 0, g.err
		}
		if g.n > 0 { // complete the header held back, then decide
			k, err := r.Read(g.hdr[g.n:])
			g.n += k
			if g.n == yamuxHeader {
				g.n = 0
				if g.admit(g.hdr[:]) {
					g.pass = g.hdr
					g.out = g.pass[:]
				}
			}
			if err != nil {
				g.err = err
			}
			continue
		}
		n, err := r.Read(p)
		if n = g.filter(p[:n]); n > 0 || err != nil {
			return n, err
		}
	}
}

// filter drops from b, in place, the frames of refused streams and holds
// back a header that b ends in the middle of. It returns the bytes kept.
func (g *streamGate) filter(b []byte) int {
	w := 0
	for i := 0; i < len(b); {
		if g.body > 0 {
			k := int(min(uint32(len(b)-i), g.body))
			if !g.drop {
				if w != i {
					copy(b[w:], b[i:i+k])
				}
				w += k
			}
			i += k
			g.body -= uint32(k)
			continue
		}
		if len(b)-i < yamuxHeader {
			g.n = copy(g.hdr[:], b[i:])
			break
		}
		h := b[i : i+yamuxHeader]
		if g.admit(h) {
			if w != i {
				copy(b[w:], h)
			}
			w += yamuxHeader
		}
		i += yamuxHeader
	}
	return w
}

// admit follows the frame of header h, read from the peer, and reports
// whether it may reach yamux.
func (g *streamGate) admit(h []byte) bool {
	typ, flags := h[1], binary.BigEndian.Uint16(h[2:])
	id, length := binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[8:])
	g.body, g.drop = 0, false
	if typ == yamuxData {
		g.body = length
	}
	if typ != yamuxData && typ != yamuxWindowUpdate {
		return true
	}
	if flags&yamuxSYN != 0 && id != controlStream && !g.opened(id) {
		g.drop = true
		g.reset(id)
		return false
	}
	if flags&(yamuxFIN|yamuxRST) != 0 {
		g.closed(id, peerClosed, flags&yamuxRST != 0)
	}
	if flags&(yamuxACK|yamuxRST) != 0 {
		g.answered(id, flags&yamuxRST != 0)
	}
	return true
}

// answered notes the peer's answer to a stream this side opened: accepted
// (yamux's ACK) or reset.
func (g *streamGate) answered(id uint32, reset bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o := g.opening[id]; o != nil {
		var err error
		if reset {
			err = ErrStreamRefused
		}
		o.answer(err)
		if o.taken {
			delete(g.opening, id)
		}
	}
}

// take returns how the peer answers the stream id that this side opened.
// The gate forgets the stream once it is both taken and answered.
func (g *streamGate) take(id uint32) *opening {
	g.mu.Lock()
	defer g.mu.Unlock()
	o := g.opening[id]
	if o == nil { // not seen written: the session failed as it opened
		o = &opening{done: make(chan struct{})}
		o.answer(ErrClosed)
		return o
	}
	o.taken = true
	select {
	case <-o.done:
		delete(g.opening, id)
	default:
	}
	return o
}

// wrote follows a frame header h that this side writes.
func (g *streamGate) wrote(h []byte) {
	if h[1] != yamuxData && h[1] != yamuxWindowUpdate {
		return
	}
	flags, id := binary.BigEndian.Uint16(h[2:]), binary.BigEndian.Uint32(h[4:])
	if flags&yamuxSYN != 0 && id != controlStream {
		g.mu.Lock()
		if !g.ended {
			g.opening[id] = &opening{done: make(chan struct{})}
		}
		g.mu.Unlock()
	}
	if flags&(yamuxFIN|yamuxRST) != 0 {
		g.closed(id, localClosed, flags&yamuxRST != 0)
	}
}

// opened counts the stream id that the peer opens and reports true, or
// reports false if it is over a bound. A second opening of a counted
// stream passes, for yamux to refuse.
func (g *streamGate) opened(id uint32) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.open[id]; ok {
		return true
	}
	if g.ended || len(g.open) >= maxPeerStreams || g.budget != nil && !g.budget.TakeStream() {
		return false
	}
	g.open[id] = 0
	return true
}

// closed notes that side has closed (or, if reset, reset) stream id, and
// stops counting it once it has ended.
func (g *streamGate) closed(id uint32, side uint8, reset bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	was, ok := g.open[id]
	if !ok {
		return
	}
	if now := was | side; !reset && now != peerClosed|localClosed {
		g.open[id] = now
		return
	}
	delete(g.open, id)
	if g.budget != nil {
		g.budget.ReleaseStream()
	}
}

// end stops counting every stream: the session has ended.
func (g *streamGate) end() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ended {
		return
	}
	g.ended = true
	for _, o := range g.opening {
		o.answer(ErrClosed)
	}
	clear(g.opening)
	if g.budget != nil {
		for range g.open {
			g.budget.ReleaseStream()
		}
	}
	clear(g.open)
}

// resetFrame is yamux's reset of stream id: a window update with the RST
// flag.
func resetFrame(id uint32) []byte {
	h := make([]byte, yamuxHeader)
	h[1] = yamuxWindowUpdate
	binary.BigEndian.PutUint16(h[2:], yamuxRST)
	binary.BigEndian.PutUint32(h[4:], id)
	return h
}
