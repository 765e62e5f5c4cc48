// Package mux turns one TCP connection into a muxfer session: a yamux
// session whose first stream, opened by the client, is the control stream
// of length-prefixed messages, and whose other streams each carry one file.
//
// Dial and Accept perform the handshake (Hello, then Welcome or Error)
// under a deadline; after that a Session sends and receives control
// messages and opens and accepts data streams. Every read and write on a
// stream has a deadline, so a peer that stops reading or writing cannot hold
// a goroutine forever.
package mux

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/muxfer/muxfer/protocol"
)

// Config tunes a session. Key is required unless InsecureNoTLS is set; the
// other fields have defaults.
type Config struct {
	// Key is the hub's access key. Both ends prove they hold it, over TLS
	// 1.3, before anything else is said.
	Key Key
	// InsecureNoTLS turns TLS and the key proof off: anyone can connect
	// and read everything. For measuring on trusted links only.
	InsecureNoTLS bool
	// Identity, on a client, is the key its hello proves (see
	// identity.go); nil for none. A hub reads the client's from the
	// hello (Session.Identity).
	Identity ed25519.PrivateKey

	// HubIdentity makes a hub members-only (members.go): its TLS identity
	// is this key instead of one derived from Key, and it admits only the
	// identities Member admits (returning nil), each proved right after
	// TLS, with the invitation's secret the client presented (empty for
	// none); Member's error is what the client is told. HubKey, on a
	// client, is such a hub's public key: the client accepts no other, and
	// proves Identity (required) instead of an access key, presenting
	// Invitation (InvitationLen bytes) if set.
	HubIdentity ed25519.PrivateKey
	Member      func(pub ed25519.PublicKey, invitation []byte) error
	HubKey      ed25519.PublicKey
	Invitation  []byte
	// HandshakeTimeout bounds the time from connect to Welcome. Default 10s.
	HandshakeTimeout time.Duration
	// FirstByteTimeout bounds, on the hub's side (Accept), the time from
	// connect to the client's first byte. A client sends its TLS
	// ClientHello (or, without TLS, its first yamux frame) at once, so a
	// connection that has sent nothing by then is idle on purpose: it is
	// closed rather than left to hold one of the hub's handshake slots
	// for the whole HandshakeTimeout. Once a byte has come, the rest of
	// HandshakeTimeout applies. Default 2s.
	FirstByteTimeout time.Duration
	// IOTimeout bounds each read or write on a data stream and each write
	// on the control stream: a peer that makes no progress for this long
	// is treated as gone. Default 30s.
	IOTimeout time.Duration
	// KeepAlive is how often each end pings the other when nothing else
	// proves it alive. A peer that stops answering (a dead link, a machine
	// that lost power: no FIN ever comes) is noticed within KeepAlive plus
	// IOTimeout, and the session then ends with an error. Default 15s, so
	// 45s with the default IOTimeout.
	KeepAlive time.Duration
	// Linger bounds how long Hangup waits for the peer to close after the
	// last message. Default 2s.
	Linger time.Duration
	// StreamWindow fixes the largest yamux receive window per stream, if
	// at least 256 KiB. Otherwise each end sizes its own from the time its
	// TLS handshake took, which is about one round trip: enough for
	// 800 Mbit/s over that round trip, between 512 KiB and 1 MiB (see
	// windowFor); 1 MiB without TLS, where nothing is timed. With 1 MiB
	// one stream fills 86-88% of a 100 Mbit/s link with a 50 ms round
	// trip (a bandwidth-delay product of 625 kB), where yamux's 256 KiB
	// default fills 34%, and a hub receiving from 50 clients at once
	// buffers at most 50 MiB for them. The window is also what a chat
	// line can find ahead of it in the kernel's buffers and the hub's, so
	// a short path gets the smaller one.
	StreamWindow uint32

	// DataFrame fixes the bytes of one yamux frame on a data stream, and
	// NotSentLowat the bytes the kernel may hold unsent on the connection
	// (TCP_NOTSENT_LOWAT, Linux). Together they bound what a control
	// message (a chat line) waits behind: yamux sends frames in the order
	// they are queued, at most one per writing data stream, and then the
	// kernel sends what it holds. At 0, each follows the connection's
	// measured rate: frames of about 1 ms of it, from 16 KiB to 256 KiB,
	// and about 2 ms unsent, from 32 KiB to 1 MiB (see frames.go).
	DataFrame    int
	NotSentLowat int

	// Streams, if set, bounds the data streams the peer may have open at
	// once beyond the session's own bound (twice protocol.MaxDataStreams):
	// a hub passes each connection a budget shared by its source address
	// and the whole hub. A stream beyond either is reset as it opens,
	// before it can hold any memory; the peer's reads and writes on it
	// fail with ErrStreamRefused. See streams.go.
	Streams StreamBudget

	peer *peering // set by Call and Answer: an end-to-end session (peer.go)
}

func (c Config) handshakeTimeout() time.Duration {
	return cmp(c.HandshakeTimeout, 10*time.Second)
}

func (c Config) firstByteTimeout() time.Duration { return cmp(c.FirstByteTimeout, 2*time.Second) }

func (c Config) ioTimeout() time.Duration { return cmp(c.IOTimeout, 30*time.Second) }

func cmp(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// yamux returns yamux's configuration for a session whose TLS handshake
// took handshake (0 if there was none).
func (c Config) yamux(handshake time.Duration) *yamux.Config {
	y := yamux.DefaultConfig()
	y.LogOutput = io.Discard
	y.AcceptBacklog = 128
	y.KeepAliveInterval = cmp(c.KeepAlive, 15*time.Second)
	y.ConnectionWriteTimeout = c.ioTimeout()
	y.StreamOpenTimeout = c.ioTimeout()
	y.StreamCloseTimeout = c.ioTimeout()
	y.MaxStreamWindowSize = windowFor(handshake)
	if c.StreamWindow >= 256<<10 {
		y.MaxStreamWindowSize = c.StreamWindow
	}
	return y
}

// The receive window per stream bounds both a stream's rate (at most a
// window per round trip) and the data a chat line can find queued ahead
// of it, on a fast link in the kernel's buffers and in front of the hub's
// reading goroutine, which has to read through it first. On loopback,
// with both clients and the hub sharing two cores (bench/chatlat, three
// alternating runs each), a chat line from an uploader took p50 1.05-1.32
// ms and p99 3.8-6.0 ms with 1 MiB, and 0.86-0.89 ms and 3.2-4.4 ms with
// 512 KiB, at the same upload rate; 1 GiB took as long with 512 KiB as
// with 1 MiB, and 20% longer with 256 KiB. A long round trip needs the
// larger window: 1 MiB fills 86-88% of 100 Mbit/s at 50 ms, 512 KiB
// could fill at most 84% and in practice less.
//
// A TLS 1.3 handshake takes one round trip plus both ends' cryptography,
// 1.2-4.7 ms on an idle loopback here, so its duration is a round-trip
// estimate that errs long, toward the larger window. It sees round trips
// that the kernel does not (a proxy, a tunnel), and it costs nothing: each
// end times its own, before yamux starts. The window covers 800 Mbit/s
// over it: 512 KiB up to 5.2 ms, 1 MiB, as before, from 10.5 ms, so that
// only a path faster than that with a round trip under 10 ms can find a
// stream slower than it was with 1 MiB.
const (
	minWindow  = 512 << 10
	maxWindow  = 1 << 20
	windowRate = 100e6 // bytes per second a window should keep moving: 800 Mbit/s
)

// windowFor returns the receive window for a session whose TLS handshake
// took handshake: windowRate over that time, from minWindow to maxWindow;
// maxWindow when it is unknown (0, without TLS).
func windowFor(handshake time.Duration) uint32 {
	if handshake <= 0 {
		return maxWindow
	}
	return uint32(min(max(int(windowRate*handshake.Seconds()), minWindow), maxWindow))
}

// Session is an established muxfer connection. Send may be called from any
// goroutine; Recv from one goroutine at a time.
type Session struct {
	nc   net.Conn
	ys   *yamux.Session
	ctrl *yamux.Stream
	cfg  Config

	clock *handshakeClock // the hub's handshake deadline, until Ready
	slots chan struct{}   // one per data stream this side has open
	pace  *pacer          // sizes data frames, unless Config.DataFrame does

	wmu sync.Mutex // serialises control writes

	identity ed25519.PublicKey // the client's, on a hub; nil for none
}

// Identity returns, on a hub's session, the identity key the client
// proved in its hello, or nil if it proved none; on an end-to-end session
// (Call, Answer), the identity the other end proved.
func (s *Session) Identity() ed25519.PublicKey { return s.identity }

// ErrClosed is returned for operations on a session that has ended.
var ErrClosed = errors.New("connection closed")

// Dial connects to a hub at addr and says hello. It returns the session and
// the hub's Welcome, or the hub's refusal as a *protocol.Error. An addr
// without a port means DefaultPort (see HubAddr).
func Dial(ctx context.Context, addr string, hello protocol.Hello, cfg Config) (*Session, protocol.Welcome, error) {
	addr = HubAddr(addr)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, protocol.Welcome{}, fmt.Errorf("connect to %s: %w", addr, unwrapOp(err))
	}
	s, w, err := Client(ctx, conn, hello, cfg)
	if err != nil {
		return nil, protocol.Welcome{}, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return s, w, nil
}

// Client performs the client's side of the handshake on an open connection.
// On failure it closes conn.
func Client(ctx context.Context, conn net.Conn, hello protocol.Hello, cfg Config) (*Session, protocol.Welcome, error) {
	var none protocol.Welcome
	clock, sc, ys, pace, err := open(ctx, conn, cfg, false)
	if err != nil {
		return nil, none, err
	}
	fail := func(err error) (*Session, protocol.Welcome, error) {
		clock.stop()
		ys.Close()
		return nil, none, err
	}
	ctrl, err := ys.OpenStream()
	if err != nil {
		return fail(clock.err(err))
	}
	hello.Version = protocol.Version
	hello.Identity, hello.Proof = "", ""
	if cfg.Identity != nil && cfg.peer == nil { // a peer's TLS proves it
		b, err := binding(sc)
		if err != nil {
			return fail(err)
		}
		proveIdentity(&hello, cfg.Identity, b)
	}
	if err := protocol.WriteMessage(ctrl, hello); err != nil {
		return fail(clock.err(err))
	}
	m, err := protocol.ReadMessage(ctrl)
	if err != nil {
		return fail(clock.err(err))
	}
	switch m := m.(type) {
	case protocol.Welcome:
		if m.Version != protocol.Version {
			return fail(fmt.Errorf("hub speaks protocol version %d, this client speaks %d", m.Version, protocol.Version))
		}
		if !clock.stop() {
			return fail(clock.err(context.DeadlineExceeded))
		}
		s := newSession(sc, ys, ctrl, cfg, nil, pace)
		s.identity = peerOf(sc)
		return s, m, nil
	case protocol.Error:
		return fail(&m)
	default:
		return fail(fmt.Errorf("hub sent %q before welcome", m.Type()))
	}
}

// Accept performs the hub's side of the handshake on a new connection: it
// waits for the control stream and the client's Hello. It refuses a Hello
// of another protocol version with an Error message. The caller answers an
// accepted Hello with Welcome (or Error) and then calls Ready.
func Accept(ctx context.Context, conn net.Conn, cfg Config) (*Session, protocol.Hello, error) {
	var none protocol.Hello
	// The deadline stays until Ready, so the caller's Welcome is covered too.
	clock, sc, ys, pace, err := open(ctx, conn, cfg, true)
	if err != nil {
		return nil, none, err
	}
	ctrl, err := ys.AcceptStreamWithContext(ctx)
	if err != nil {
		clock.stop()
		ys.Close()
		return nil, none, clock.err(err)
	}
	s := newSession(sc, ys, ctrl, cfg, clock, pace)
	if ctrl.StreamID() != 1 {
		s.refuse(protocol.CodeBadMessage, fmt.Sprintf("the control stream must be stream 1, not %d", ctrl.StreamID()))
		return nil, none, fmt.Errorf("handshake: control stream %d", ctrl.StreamID())
	}
	m, err := protocol.ReadMessage(ctrl)
	if err != nil {
		s.Close()
		return nil, none, clock.err(err)
	}
	hello, ok := m.(protocol.Hello)
	if !ok {
		s.refuse(protocol.CodeBadMessage, fmt.Sprintf("expected hello, got %s", m.Type()))
		return nil, none, fmt.Errorf("handshake: expected hello, got %s", m.Type())
	}
	if hello.Version != protocol.Version {
		text := fmt.Sprintf("client speaks protocol version %d, this hub speaks %d", hello.Version, protocol.Version)
		s.refuse(protocol.CodeVersion, text)
		return nil, none, errors.New(text)
	}
	b, err := binding(sc)
	if err == nil {
		s.identity, err = checkIdentity(hello, b)
	}
	if member := peerOf(sc); err == nil && member != nil {
		// The member proof (or a peer's TLS) came first; a hello's
		// identity may only repeat it.
		if s.identity != nil && !s.identity.Equal(member) {
			err = fmt.Errorf("%w: the hello's identity is not the member's", ErrIdentity)
		}
		s.identity = member
	}
	if err != nil {
		s.refuse(protocol.CodeIdentity, err.Error())
		return nil, none, fmt.Errorf("handshake: %w", err)
	}
	return s, hello, nil
}

// gate returns the session's stream gate (see streams.go).
func (s *Session) gate() *streamGate { return s.nc.(*groupConn).gate }

func newSession(nc net.Conn, ys *yamux.Session, ctrl *yamux.Stream, cfg Config, clock *handshakeClock, pace *pacer) *Session {
	return &Session{nc: nc, ys: ys, ctrl: ctrl, cfg: cfg, clock: clock, pace: pace,
		slots: make(chan struct{}, protocol.MaxDataStreams)}
}

// open starts the handshake clock, secures conn (TLS and the key proof)
// and starts yamux on it, as the hub (server) or a client, writing through
// a groupConn. On failure it closes conn and stops the clock.
func open(ctx context.Context, conn net.Conn, cfg Config, server bool) (*handshakeClock, net.Conn, *yamux.Session, *pacer, error) {
	secure, start := secureClient, yamux.Client
	if server {
		secure, start = secureServer, yamux.Server
	}
	clock := startClock(ctx, conn, cfg.handshakeTimeout())
	if server {
		var err error
		var first byte
		if conn, first, err = clock.firstByte(conn, cfg.firstByteTimeout()); err == nil {
			err = hubMismatch(conn, first, cfg)
		}
		if err != nil {
			clock.stop()
			conn.Close()
			return nil, nil, nil, nil, err
		}
	} else if cfg.InsecureNoTLS {
		conn = &plainConn{Conn: conn, tls: &clock.hubTLS}
	}
	began := time.Now()
	sc, err := secure(conn, cfg)
	handshake := time.Since(began)
	if cfg.InsecureNoTLS {
		handshake = 0
	}
	if err != nil {
		clock.stop()
		conn.Close()
		if errors.Is(err, ErrAuth) || errors.Is(err, ErrTLSMismatch) {
			return nil, nil, nil, nil, err
		}
		return nil, nil, nil, nil, clock.err(err)
	}
	pace := newPacer(lowatSetter(conn), cfg.NotSentLowat)
	queue := pace.size
	if cfg.DataFrame > 0 {
		queue = func() int { return cfg.DataFrame }
	}
	gc := newGroupConn(sc, queue, !server, cfg.Streams)
	ys, err := start(gc, cfg.yamux(handshake))
	if err != nil {
		clock.stop()
		gc.Close()
		return nil, nil, nil, nil, err
	}
	return clock, gc, ys, pace, nil
}

// Ready ends the handshake deadline on the hub's side. It reports an error
// if the deadline or the context passed to Accept ended the handshake first.
func (s *Session) Ready() error {
	if s.clock != nil && !s.clock.stop() {
		return s.clock.err(context.DeadlineExceeded)
	}
	return nil
}

func (s *Session) refuse(code, text string) {
	s.Send(protocol.Error{Code: code, Text: text})
	if s.clock != nil {
		s.clock.stop()
	}
	s.Hangup()
}

// handshakeClock bounds a handshake: conn's deadline is the earlier of
// ctx's deadline and now plus the handshake timeout, and cancelling ctx
// expires it at once.
type handshakeClock struct {
	ctx       context.Context
	conn      net.Conn
	deadline  time.Time
	cancelled func() bool // unregisters the ctx hook; false if it ran
	hubTLS    atomic.Bool // a client without TLS heard a TLS hub (plainConn)
}

func startClock(ctx context.Context, conn net.Conn, d time.Duration) *handshakeClock {
	dl := time.Now().Add(d)
	if cdl, ok := ctx.Deadline(); ok && cdl.Before(dl) {
		dl = cdl
	}
	conn.SetDeadline(dl)
	hook := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return &handshakeClock{ctx: ctx, conn: conn, deadline: dl, cancelled: hook}
}

// stop clears the deadline and reports whether the handshake finished in
// time.
func (c *handshakeClock) stop() bool {
	ok := c.cancelled()
	c.conn.SetDeadline(time.Time{})
	return ok && time.Now().Before(c.deadline)
}

// err turns what went wrong into one clear reason. When the deadline has
// passed, that is the reason, whatever yamux made of it; when a client
// without TLS heard a TLS hub, that is, whatever yamux made of it.
func (c *handshakeClock) err(err error) error {
	if c.hubTLS.Load() {
		return errHubWithTLS
	}
	if !time.Now().Before(c.deadline) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("handshake: timed out")
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("handshake: %w", err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, yamux.ErrSessionShutdown) {
		return fmt.Errorf("handshake: connection closed (is this a muxfer hub?)")
	}
	return fmt.Errorf("handshake: %w", err)
}

func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
