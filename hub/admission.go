package hub

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// Defaults of the limits per source address in Config.
const (
	DefaultMaxHandshakesPerAddr = 8
	DefaultMaxClientsPerAddr    = 32
	DefaultMaxStreamsPerAddr    = streamsPerClient * DefaultMaxClientsPerAddr // 128
	DefaultMaxStreamsTotal      = 1024
)

// streamsPerClient is the data streams a client sends on by default
// (transfer.SendOptions.Parallel): MaxStreamsPerAddr defaults to as many
// for each client that MaxClientsPerAddr lets one address have.
const streamsPerClient = 4

// source is where a connection comes from, as the hub counts it against
// the limits per address: an IPv4 address whole, or the /64 network of an
// IPv6 address, because one host or one home network is commonly given a
// whole /64, and counting single IPv6 addresses would give it 2^64
// shares. The zero source (a connection that is not IP: a Unix socket, a
// pipe in tests) is not counted.
type source struct{ p netip.Prefix }

// sourceOf returns the source of a connection from a.
func sourceOf(a net.Addr) source {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return source{}
	}
	ip := tcp.AddrPort().Addr().Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return source{}
	}
	return source{p}
}

// String is the source as a person reads it: "192.0.2.7", or
// "2001:db8:1:2::/64".
func (s source) String() string {
	if s.p.Addr().Is4() {
		return s.p.Addr().String()
	}
	return s.p.String()
}

// perSource counts what each source holds (connections in their
// handshake, clients, entries of open transfers) against a limit per
// source. A source is in the map only while it holds something, so the
// map is bounded by what the hub holds in all.
type perSource struct {
	mu   sync.Mutex
	held map[source]int
}

// take counts one more for s and reports true, or reports false, counting
// nothing, if s already holds limit.
func (c *perSource) take(s source, limit int) bool { return c.takeN(s, 1, limit) }

// takeN counts n more for s and reports true, or reports false, counting
// nothing, if s would hold more than limit.
func (c *perSource) takeN(s source, n, limit int) bool {
	if !s.p.IsValid() {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held[s]+n > limit {
		return false
	}
	if c.held == nil {
		c.held = map[source]int{}
	}
	c.held[s] += n
	return true
}

// release gives back one that take counted for s.
func (c *perSource) release(s source) { c.releaseN(s, 1) }

// releaseN gives back n that takeN counted for s.
func (c *perSource) releaseN(s source, n int) {
	if !s.p.IsValid() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held[s] <= n {
		delete(c.held, s)
	} else {
		c.held[s] -= n
	}
}

// admission is what the hub counts per source address, so that no one
// address can take every handshake slot or every client's place.
type admission struct {
	handshakes perSource // connections from accept to Welcome or refusal
	clients    perSource // registered clients
	crowded    throttle  // logs connections refused for their source's share

	streams        perSource    // data streams open (see streamBudget)
	streamsOpen    atomic.Int64 // data streams open in all
	streamsRefused throttle     // logs data streams refused
	refusedStreams atomic.Int64 // data streams refused, ever
}

// streamBudget is one connection's StreamBudget: the data streams its
// client opens count against its source address's MaxStreamsPerAddr and
// the hub's MaxStreamsTotal. Each stream can hold up to a receive window of the
// hub's memory (at most 1 MiB) while nobody reads it, so these bound that
// memory per address and in all.
type streamBudget struct {
	h   *Hub
	src source
}

// TakeStream counts one more stream, if the source's share and the
// hub's bound allow.
func (b streamBudget) TakeStream() bool {
	a := &b.h.admit
	limit, which := b.h.cfg.MaxStreamsPerAddr, "from one address"
	if a.streams.take(b.src, limit) {
		if a.streamsOpen.Add(1) <= int64(b.h.cfg.MaxStreamsTotal) {
			return true
		}
		a.streamsOpen.Add(-1)
		a.streams.release(b.src)
		limit, which = b.h.cfg.MaxStreamsTotal, "in all"
	}
	a.refusedStreams.Add(1)
	if ok, held := a.streamsRefused.allow(time.Now()); ok {
		b.h.log.Warn("too many data streams open "+which+"; refusing new ones",
			"limit", limit, "source", b.src.String(), "refused_since_last_report", held)
	}
	return false
}

// ReleaseStream gives back a stream that TakeStream counted.
func (b streamBudget) ReleaseStream() {
	b.h.admit.streamsOpen.Add(-1)
	b.h.admit.streams.release(b.src)
}

// startHandshake takes a handshake slot for conn, from its source's share
// and from the hub's MaxHandshakes, or closes conn at once if either is
// used up: before TLS, before a goroutine, so a flood of connections that
// never finish their handshake costs little and cannot keep the hub from
// the clients that do. A flood from one address takes at most its share,
// so the other slots stay for everyone else.
func (h *Hub) startHandshake(conn net.Conn, src source) bool {
	if !h.admit.handshakes.take(src, h.cfg.MaxHandshakesPerAddr) {
		conn.Close()
		if ok, held := h.admit.crowded.allow(time.Now()); ok {
			h.log.Warn("too many connections in their handshake from one address; closing its new ones",
				"limit", h.cfg.MaxHandshakesPerAddr, "source", src.String(), "closed_since_last_report", held)
		}
		return false
	}
	select {
	case h.handshakes <- struct{}{}:
		return true
	default:
	}
	h.admit.handshakes.release(src)
	conn.Close()
	if ok, held := h.crowded.allow(time.Now()); ok {
		h.log.Warn("too many connections in their handshake; closing new ones",
			"limit", h.cfg.MaxHandshakes, "addr", conn.RemoteAddr().String(), "closed_since_last_report", held)
	}
	return false
}

// endHandshake gives back the slot startHandshake took.
func (h *Hub) endHandshake(src source) {
	<-h.handshakes
	h.admit.handshakes.release(src)
}

// admitClient registers a client as register does, unless its source
// already has MaxClientsPerAddr clients connected: then it returns the
// Error to refuse it with.
func (h *Hub) admitClient(sess *mux.Session, hello protocol.Hello, addr string, src source) (*peer, *protocol.Error) {
	if !h.admit.clients.take(src, h.cfg.MaxClientsPerAddr) {
		return nil, &protocol.Error{Code: protocol.CodeLimit,
			Text: fmt.Sprintf("too many connections from %s: limit %d", src, h.cfg.MaxClientsPerAddr)}
	}
	p, refusal := h.register(sess, hello, addr)
	if refusal != nil {
		h.admit.clients.release(src)
	} else {
		p.src = src // before the peer runs: read without a lock
	}
	return p, refusal
}

// dismissClient unregisters a client that admitClient registered, and
// frees its place in its source's count.
func (h *Hub) dismissClient(p *peer, src source) {
	h.unregister(p)
	h.admit.clients.release(src)
}
