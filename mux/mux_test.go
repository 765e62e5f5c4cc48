package mux_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testKey is the access key of every hub in these tests.
var testKey = mux.NewKey()

// withKey fills in testKey unless cfg already has a key or turns TLS off.
func withKey(cfg mux.Config) mux.Config {
	if cfg.Key.IsZero() && !cfg.InsecureNoTLS {
		cfg.Key = testKey
	}
	return cfg
}

// pair returns a client and a hub session joined over loopback TCP, the
// hub having answered with welcome.
func pair(t testing.TB, cfg mux.Config) (cli, hub *mux.Session) {
	t.Helper()
	return pairWith(t, cfg, nil)
}

// accepted is what acceptOne's hub ended with.
type accepted struct {
	s   *mux.Session
	err error
}

// acceptOne listens on loopback and, on a goroutine, accepts one
// connection as a hub configured by cfg, welcoming its client as id 7.
func acceptOne(t testing.TB, cfg mux.Config) (net.Listener, <-chan accepted) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan accepted, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- accepted{nil, err}
			return
		}
		s, hello, err := mux.Accept(context.Background(), conn, cfg)
		if err == nil {
			err = s.Send(protocol.Welcome{Version: protocol.Version, ID: 7, Name: hello.Name})
		}
		if err == nil {
			err = s.Ready()
		}
		got <- accepted{s, err}
	}()
	return ln, got
}

// pairWith is pair with the client's connection wrapped by wrap, if not
// nil.
func pairWith(t testing.TB, cfg mux.Config, wrap func(net.Conn) net.Conn) (cli, hub *mux.Session) {
	t.Helper()
	cfg = withKey(cfg)
	ln, got := acceptOne(t, cfg)
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		conn = wrap(conn)
	}
	cli, w, err := mux.Client(ctx, conn, protocol.Hello{Name: "tess"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := <-got
	if a.err != nil {
		t.Fatal(a.err)
	}
	if w.ID != 7 || w.Name != "tess" {
		t.Fatalf("welcome %+v", w)
	}
	t.Cleanup(func() { cli.Close(); a.s.Close() })
	return cli, a.s
}

func TestControlMessagesFlowBothWays(t *testing.T) {
	cli, hub := pair(t, mux.Config{})
	if err := cli.Send(protocol.Chat{Text: "up"}); err != nil {
		t.Fatal(err)
	}
	if m, err := hub.Recv(); err != nil || m.(protocol.Chat).Text != "up" {
		t.Fatalf("hub got %v, %v", m, err)
	}
	if err := hub.Send(protocol.Chat{From: "hub", Text: "down"}); err != nil {
		t.Fatal(err)
	}
	if m, err := cli.Recv(); err != nil || m.(protocol.Chat).Text != "down" {
		t.Fatalf("client got %v, %v", m, err)
	}
}

func TestDataStreamCarriesHeaderBytesAndEOF(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  mux.Config
	}{{"TLS", mux.Config{}}, {"insecure", mux.Config{InsecureNoTLS: true}}} {
		t.Run(tt.name, func(t *testing.T) { testDataStream(t, tt.cfg) })
	}
}

func testDataStream(t *testing.T, cfg mux.Config) {
	cli, hub := pair(t, cfg)
	payload := bytes.Repeat([]byte("muxfer "), 100000)
	sent := make(chan error, 1)
	go func() {
		st, err := cli.OpenData(context.Background(), protocol.DataHeader{Transfer: "t1", File: 3})
		if err == nil {
			_, err = st.Write(payload)
			st.Close()
		}
		sent <- err
	}()
	st, err := hub.AcceptData(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := st.ReadHeader()
	if err != nil || h.Transfer != "t1" || h.File != 3 {
		t.Fatalf("header %+v, %v", h, err)
	}
	got, err := io.ReadAll(st)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("read %d bytes, %v; want %d", len(got), err, len(payload))
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// TestCutSessionIsAnErrorNotEOF guards against yamux issue #92: a stream
// whose session dies must not read as a clean end of file.
func TestCutSessionIsAnErrorNotEOF(t *testing.T) {
	cli, hub := pair(t, mux.Config{})
	st, err := cli.OpenData(context.Background(), protocol.DataHeader{Transfer: "t", File: 0})
	if err != nil {
		t.Fatal(err)
	}
	st.Write([]byte("partial"))
	in, err := hub.AcceptData(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(in, buf); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	_, err = in.Read(buf)
	if !errors.Is(err, mux.ErrClosed) {
		t.Fatalf("read after the session was cut: %v, want ErrClosed", err)
	}
}

// TestStalledPeerTimesOut: a writer whose peer never reads fails after
// the I/O timeout instead of blocking for ever (yamux issues #133, #142),
// and the session ends with it: a peer that stopped reading is as good as
// gone.
func TestStalledPeerTimesOut(t *testing.T) {
	cli, hub := pair(t, mux.Config{IOTimeout: 300 * time.Millisecond})
	_, err := writeUnread(t, cli, hub)
	if !errors.Is(err, mux.ErrTimeout) {
		t.Fatalf("stalled write failed with %v, want ErrTimeout", err)
	}
	select {
	case <-cli.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the session lives on after a stream timed out")
	}
}

// writeUnread opens a data stream from cli that hub accepts and never
// reads, writes to it until a write fails, and returns the bytes written
// and the failure. It fails the test if 64 MiB, far beyond any window, go
// through.
func writeUnread(t *testing.T, cli, hub *mux.Session) (int, error) {
	t.Helper()
	st, err := cli.OpenData(context.Background(), protocol.DataHeader{Transfer: "t", File: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in, err := hub.AcceptData(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close() // accepted, never read
	chunk := make([]byte, 4<<10)
	for sent := 0; sent < 64<<20; {
		n, err := st.Write(chunk)
		if sent += n; err != nil {
			return sent, err
		}
	}
	t.Fatal("writes never blocked")
	return 0, nil
}

// slowStart delays the first writes of a connection, as a long round trip
// would delay the handshake.
type slowStart struct {
	net.Conn
	delay time.Duration
	left  int // writes still to delay
}

func (c *slowStart) Write(p []byte) (int, error) {
	if c.left > 0 {
		c.left--
		hubtest.Lag(c.delay) // the link's latency itself
	}
	return c.Conn.Write(p)
}

// TestWindowFollowsTheHandshakesRoundTrip: the hub's receive window, what
// a client can send on a stream the hub does not read, is sized from the
// time the handshake took: 512 KiB on an idle loopback, 1 MiB when the
// client's first writes are each 60 ms late, as over a long round trip.
// A loaded machine takes longer over a handshake, so the window can only
// be said to be at most what the whole set-up's time would give.
func TestWindowFollowsTheHandshakesRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name  string
		delay time.Duration
	}{
		{"loopback", 0},
		{"60 ms late", 60 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			// The writes stop when the window is used up and end after
			// IOTimeout; the window's grant comes well within it.
			cli, hub := pairWith(t, mux.Config{IOTimeout: time.Second}, func(c net.Conn) net.Conn {
				return &slowStart{Conn: c, delay: tt.delay, left: 3}
			})
			// The hub's handshake took longer than two delays (at least
			// two of the client's hello, its finish and its proof of the
			// key fall within it), and some time even without them, and
			// less than all this.
			least := int(mux.WindowFor(max(2*tt.delay, time.Microsecond)))
			most := int(mux.WindowFor(time.Since(start)))
			sent, _ := writeUnread(t, cli, hub)
			// The stream's header took some of the window.
			if sent < least-1024 || sent > most {
				t.Fatalf("%d bytes sent before the window closed, want %d to %d", sent, least-1024, most)
			}
			t.Logf("window %d bytes (%d to %d)", sent, least, most)
		})
	}
}

func TestWindowFor(t *testing.T) {
	for _, tt := range []struct {
		handshake time.Duration
		want      uint32
	}{
		{0, 1 << 20}, // no TLS: nothing measured
		{time.Millisecond, 512 << 10},
		{5 * time.Millisecond, 512 << 10},
		{7500 * time.Microsecond, 750000},
		{10 * time.Millisecond, 1000000},
		{11 * time.Millisecond, 1 << 20},
		{time.Second, 1 << 20},
	} {
		if got := mux.WindowFor(tt.handshake); got != tt.want {
			t.Errorf("WindowFor(%v) = %d, want %d", tt.handshake, got, tt.want)
		}
	}
}

func TestCancelledStreamAborts(t *testing.T) {
	cli, hub := pair(t, mux.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	st, err := cli.OpenData(ctx, protocol.DataHeader{Transfer: "t", File: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in, err := hub.AcceptData(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	written := make(chan error, 1)
	go func() {
		chunk := make([]byte, 1<<20)
		for {
			if _, err := st.Write(chunk); err != nil {
				written <- err
				return
			}
		}
	}()
	cancel()
	if err := <-written; !errors.Is(err, mux.ErrAborted) {
		t.Fatalf("write after cancel: %v, want ErrAborted", err)
	}
	if _, err := cli.OpenData(ctx, protocol.DataHeader{Transfer: "t", File: 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("OpenData with a cancelled context: %v", err)
	}
}

// TestHandshakeRefusals covers both sides of a failed handshake.
func TestHandshakeRefusals(t *testing.T) {
	tests := []struct {
		name string
		hub  func(t *testing.T, conn net.Conn) // a fake hub's side
		want string                            // in Dial's error
	}{
		{"hub of another version", func(t *testing.T, conn net.Conn) {
			s, hello, err := mux.Accept(context.Background(), conn, withKey(mux.Config{}))
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			s.Send(protocol.Welcome{Version: protocol.Version + 1, Name: hello.Name})
			s.Recv() // until the client hangs up
		}, "hub speaks protocol version 2, this client speaks 1"},
		{"hub refuses", func(t *testing.T, conn net.Conn) {
			s, _, err := mux.Accept(context.Background(), conn, withKey(mux.Config{}))
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			s.Send(protocol.Error{Code: protocol.CodeShutdown, Text: "hub is shutting down"})
			s.Recv()
		}, "shutdown: hub is shutting down"},
		{"not a muxfer hub", func(t *testing.T, conn net.Conn) {
			defer conn.Close()
			conn.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
			io.Copy(io.Discard, conn)
		}, "handshake"},
		{"silent hub", func(t *testing.T, conn net.Conn) {
			defer conn.Close()
			io.Copy(io.Discard, conn)
		}, "handshake: timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				if conn, err := ln.Accept(); err == nil {
					tt.hub(t, conn)
				}
			}()
			_, _, err = mux.Dial(context.Background(), ln.Addr().String(), protocol.Hello{Name: "x"}, withKey(mux.Config{HandshakeTimeout: 500 * time.Millisecond}))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), ln.Addr().String()) {
				t.Errorf("Dial error %v, want one naming the address and %q", err, tt.want)
			}
			<-done
		})
	}
}

func TestHubHandshakeDeadline(t *testing.T) {
	_, srv := mux.TCPPair(t)
	_, _, err := mux.Accept(context.Background(), srv, withKey(mux.Config{HandshakeTimeout: 200 * time.Millisecond}))
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Accept of a silent client: %v, want a timeout", err)
	}
}

// TestOpenDataKeepsAtMostMaxDataStreams: the 65th stream waits for one of
// the first 64 to close, so a receiver that serves 64 at a time never
// leaves a stream unacknowledged long enough for yamux to end the session.
func TestOpenDataKeepsAtMostMaxDataStreams(t *testing.T) {
	cli, _ := pair(t, mux.Config{})
	var open []*mux.Stream
	for i := range protocol.MaxDataStreams {
		st, err := cli.OpenData(context.Background(), protocol.DataHeader{Transfer: "t", File: i})
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := cli.OpenData(ctx, protocol.DataHeader{Transfer: "t", File: 64}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stream %d: %v, want it to wait until the deadline", protocol.MaxDataStreams+1, err)
	}
	open[0].Close()
	open[0].Close() // a second Close must not free a second slot
	st, err := cli.OpenData(context.Background(), protocol.DataHeader{Transfer: "t", File: 64})
	if err != nil {
		t.Fatalf("after one closed: %v", err)
	}
	st.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	for _, st := range open[1:] {
		defer st.Close()
	}
	last, err := cli.OpenData(ctx2, protocol.DataHeader{Transfer: "t", File: 65})
	if err != nil {
		t.Fatalf("one slot should be free: %v", err)
	}
	last.Close()
}

// TestDeadPeerIsNoticed: a link that stops carrying bytes, without any
// FIN or reset, ends the session within KeepAlive plus IOTimeout, with an
// error rather than silence.
func TestDeadPeerIsNoticed(t *testing.T) {
	cfg := withKey(mux.Config{KeepAlive: 100 * time.Millisecond, IOTimeout: 300 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hubDone := make(chan struct{})
	go func() {
		defer close(hubDone)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		s, _, err := mux.Accept(context.Background(), conn, cfg)
		if err != nil {
			return
		}
		defer s.Close()
		s.Send(protocol.Welcome{Version: protocol.Version, Name: "x"})
		s.Ready()
		<-s.Done()
	}()
	proxy := hubtest.StartProxy(t, ln.Addr().String())
	cli, _, err := mux.Dial(context.Background(), proxy.Addr, protocol.Hello{Name: "x"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	proxy.Stall()
	start := time.Now()
	select {
	case <-cli.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a dead link went unnoticed for 10 s")
	}
	t.Logf("noticed after %s (bound: keepalive 100ms + I/O timeout 300ms, plus scheduling)", time.Since(start).Round(time.Millisecond))
	if _, err := cli.Recv(); !errors.Is(err, mux.ErrClosed) {
		t.Errorf("Recv after the link died: %v, want ErrClosed", err)
	}
	proxy.Resume()
	<-hubDone
}

// TestControlMessagesArriveWholeAmidData: control messages sent while data
// streams fill the connection arrive whole and in order. A write queue
// that let a control frame's header go ahead of data frames queued before
// it, without its body, broke this at once (the hub read data bytes as the
// message).
func TestControlMessagesArriveWholeAmidData(t *testing.T) {
	cli, hub := pair(t, mux.Config{})
	for i := range 2 {
		st, err := cli.OpenData(context.Background(), protocol.DataHeader{Transfer: "t", File: i})
		if err != nil {
			t.Fatal(err)
		}
		in, err := hub.AcceptData(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		go func() { defer in.Close(); io.Copy(io.Discard, in) }()
		go func() {
			defer st.Close()
			buf := make([]byte, 256<<10)
			for range 64 { // 16 MiB
				if _, err := st.Write(buf); err != nil {
					return
				}
			}
		}()
	}
	const lines = 2000
	got := make(chan error, 1)
	go func() {
		for i := range lines {
			m, err := hub.Recv()
			if err != nil {
				got <- err
				return
			}
			if c, ok := m.(protocol.Chat); !ok || c.Text != fmt.Sprint(i) {
				got <- fmt.Errorf("message %d: %#v", i, m)
				return
			}
		}
		got <- nil
	}()
	for i := range lines {
		if err := cli.Send(protocol.Chat{Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// TestHubFirstByteDeadline: on the hub's side, a client that sends nothing
// is given up at the first-byte deadline, with a timeout error, long
// before the handshake's; and a handshake given up for its context ends
// at once in the first-byte wait too.
func TestHubFirstByteDeadline(t *testing.T) {
	tests := []struct {
		name      string
		firstByte time.Duration
		cancelled bool // the context is cancelled before Accept begins
		want      func(error) bool
	}{
		{"silent client", 100 * time.Millisecond, false, func(err error) bool {
			var ne net.Error
			return errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
		}},
		{"cancelled", time.Minute, true, func(err error) bool { return errors.Is(err, context.Canceled) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := mux.TCPPair(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelled {
				cancel()
			}
			_, _, err := mux.Accept(ctx, srv, withKey(mux.Config{HandshakeTimeout: time.Minute, FirstByteTimeout: tt.firstByte}))
			if err == nil || !tt.want(err) {
				t.Fatalf("Accept of a silent client: %v", err)
			}
			t.Logf("Accept: %v", err)
		})
	}
}

// TestHandshakeMayOutlastTheFirstByteDeadline: a client whose first byte
// came in time has the rest of the handshake timeout, with TLS and
// without; the byte read ahead reaches TLS (or yamux) in its place.
func TestHandshakeMayOutlastTheFirstByteDeadline(t *testing.T) {
	const firstByte = 50 * time.Millisecond
	for _, cfg := range []mux.Config{{}, {InsecureNoTLS: true}} {
		t.Run(fmt.Sprint("InsecureNoTLS=", cfg.InsecureNoTLS), func(t *testing.T) {
			cfg.FirstByteTimeout = firstByte
			cli, hub := pairWith(t, cfg, func(c net.Conn) net.Conn { return hubtest.PauseAfterFirstByte(c, 3*firstByte) })
			if err := cli.Send(protocol.Chat{Text: "after a slow start"}); err != nil {
				t.Fatal(err)
			}
			m, err := hub.Recv()
			if c, ok := m.(protocol.Chat); err != nil || !ok || c.Text != "after a slow start" {
				t.Fatalf("hub received %v, %v", m, err)
			}
		})
	}
}

// TestHubLearnsTheClientsIdentity runs the identity proof over TLS and
// without: the hub's session has the key the client's has, and nothing
// for a client without one.
func TestHubLearnsTheClientsIdentity(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	for _, tt := range []struct {
		name string
		cfg  mux.Config
		want ed25519.PublicKey
	}{
		{"over TLS", mux.Config{Identity: key}, key.Public().(ed25519.PublicKey)},
		{"without TLS", mux.Config{Identity: key, InsecureNoTLS: true}, key.Public().(ed25519.PublicKey)},
		{"no identity", mux.Config{}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, hub := pair(t, tt.cfg)
			if got := hub.Identity(); !got.Equal(tt.want) {
				t.Errorf("hub sees identity %x, want %x", got, tt.want)
			}
		})
	}
}
