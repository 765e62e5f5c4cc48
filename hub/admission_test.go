package hub_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// TestHubRefusesClientsBeyondMaxClients has many clients say hello at
// once: exactly MaxClients get in, every other one is told the hub is
// full, and a place freed is a place for the next client.
func TestHubRefusesClientsBeyondMaxClients(t *testing.T) {
	const limit, callers = 5, 20
	// All the callers come from 127.0.0.1: its share of the handshakes
	// and of the clients must not be what turns them away.
	h := hubtest.Start(t, hub.Config{MaxClients: limit, MaxHandshakesPerAddr: callers, MaxClientsPerAddr: callers})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var (
		mu       sync.Mutex
		admitted []*client.Client
		refusals []error
		wg       sync.WaitGroup
	)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := client.Dial(ctx, h.Addr, client.Config{Name: fmt.Sprint("c", i), Mux: hubtest.ClientConfig(h.Addr)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				refusals = append(refusals, err)
				return
			}
			admitted = append(admitted, c)
		}()
	}
	wg.Wait()
	for _, c := range admitted {
		t.Cleanup(func() { c.Close() })
	}
	if len(admitted) != limit || len(refusals) != callers-limit {
		t.Fatalf("%d clients admitted and %d refused, want %d and %d; refusals: %v", len(admitted), len(refusals), limit, callers-limit, refusals)
	}
	want := fmt.Sprintf("hub is full: %d clients", limit)
	for _, err := range refusals {
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeLimit || pe.Text != want {
			t.Errorf("refusal %v, want an Error %q %q", err, protocol.CodeLimit, want)
		}
	}
	if got := len(h.Clients()); got != limit {
		t.Errorf("hub lists %d clients, want %d", got, limit)
	}

	admitted[0].Close()
	waitUntil(t, "the hub to drop the client that left", func() bool { return len(h.Clients()) == limit-1 })
	hubtest.Dial(t, h.Addr, "next")
}

// TestHandshakesBeyondTheLimitAreClosedAtOnce fills every handshake slot
// with connections that say nothing, and then sends a burst more: each of
// those is closed long before the (one minute) handshake deadline, the
// hub says so in a line a second rather than one per connection, and a
// client gets in as soon as a slot frees.
func TestHandshakesBeyondTheLimitAreClosedAtOnce(t *testing.T) {
	const slots, burst = 4, 50
	logs := &logRecorder{}
	h := hubtest.Start(t, hub.Config{MaxHandshakes: slots, Logger: slog.New(logs),
		Mux: mux.Config{HandshakeTimeout: time.Minute, FirstByteTimeout: time.Minute}})
	var silent []net.Conn
	for range slots {
		silent = append(silent, rawConn(t, h.Addr))
	}
	waitUntil(t, "every slot to be taken", func() bool { return h.Handshaking() == slots })

	start := time.Now()
	for range burst {
		expectClosedWithin(t, rawConn(t, h.Addr), 5*time.Second)
	}
	elapsed := time.Since(start)
	lines := logs.count("too many connections in their handshake; closing new ones")
	if most := 1 + int(elapsed/time.Second); lines < 1 || lines > most {
		t.Errorf("%d connections refused in %s made %d log lines, want 1 to %d", burst, elapsed, lines, most)
	}
	if got := h.Handshaking(); got != slots {
		t.Errorf("%d handshakes after the burst, want the %d silent ones", got, slots)
	}

	silent[0].Close()
	waitUntil(t, "the hub to free the closed connection's slot", func() bool { return h.Handshaking() == slots-1 })
	hubtest.Dial(t, h.Addr, "patient")
}

func TestNameSuffixesAreBounded(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	h.SetNameLimit(3)
	for _, want := range []string{"x", "x-2", "x-3"} {
		if got := hubtest.Dial(t, h.Addr, "x").Name(); got != want {
			t.Fatalf("got name %q, want %q", got, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := client.Dial(ctx, h.Addr, client.Config{Name: "X", Mux: hubtest.ClientConfig(h.Addr)})
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeLimit {
		t.Fatalf("fourth x: %v, want an Error of code %q", err, protocol.CodeLimit)
	}
	t.Logf("hub said: %s", pe.Text)
	if got := hubtest.Dial(t, h.Addr, "y").Name(); got != "y" {
		t.Errorf("another name: got %q, want y", got)
	}
}

// logRecorder is a slog.Handler that keeps every record's message and
// level.
type logRecorder struct {
	mu     sync.Mutex
	msgs   []string
	levels []slog.Level
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	l.levels = append(l.levels, r.Level)
	return nil
}

// countAt returns how many records had the message msg and the level.
func (l *logRecorder) countAt(level slog.Level, msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for i, m := range l.msgs {
		if m == msg && l.levels[i] == level {
			n++
		}
	}
	return n
}

// count returns how many records had the message msg.
func (l *logRecorder) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// TestPreKeyFloodFromOneAddressLeavesRoomForOthers repeats issue 20's
// flood: 500 connections from one address (127.0.0.2) that never send a
// byte, each reopened as soon as the hub closes it. Meanwhile clients
// from another address (127.0.0.1) connect one after the other and each
// uploads a small folder: every one of them must get in and deliver. (The
// flood used to take all 128 handshake slots for their whole deadline,
// and every honest connection was closed at once.)
func TestPreKeyFloodFromOneAddressLeavesRoomForOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("a flood of 500 connections takes a few seconds")
	}
	const floodConns, floodMost, honest = 500, 200_000, 10
	h := hubtest.Start(t, hub.Config{})
	f := startIdleFlood(t, dialerFrom(t, "127.0.0.2"), h.Addr, floodConns, floodMost)
	waitUntil(t, "the flood to open its connections", func() bool { return f.connected.Load() >= floodConns })

	src := t.TempDir()
	start := time.Now()
	var failed []error
	for i := range honest {
		name := fmt.Sprint("honest", i)
		writeFolder(t, filepath.Join(src, name), 1)
		if err := sendFolder(h.Addr, name, filepath.Join(src, name)); err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", name, err))
			continue
		}
		hubtest.SameTree(t, filepath.Join(src, name), filepath.Join(h.Dir, name))
	}
	took := time.Since(start)
	opened := f.stop()
	t.Logf("%d honest sends took %s while the flood opened %d connections", honest, took.Round(time.Millisecond), opened)
	if len(failed) > 0 {
		t.Fatalf("%d of %d honest sends failed during the flood, the first: %v", len(failed), honest, failed[0])
	}
}

// sendFolder connects to the hub at addr as name, uploads the folder at
// dir and hangs up.
func sendFolder(addr, name, dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Config{Name: name, Mux: hubtest.ClientConfig(addr)})
	if err != nil {
		return err
	}
	defer c.Close()
	m, _, err := transfer.Scan(dir)
	if err != nil {
		return err
	}
	rep, err := c.Upload(ctx, m, transfer.SendOptions{})
	if err == nil && rep.Failed() > 0 {
		err = fmt.Errorf("%d files failed: %+v", rep.Failed(), rep.Files)
	}
	return err
}

// idleFlood holds connections open to a hub and silent, each reopened as
// soon as the hub closes it, as a pre-key flood does.
type idleFlood struct {
	connected atomic.Int64 // connections opened so far
	attempts  atomic.Int64 // dials so far, successful or not
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// startIdleFlood keeps n connections from d to addr, dialling at most
// most times in all and for at most a minute, until the test ends or
// stop is called.
func startIdleFlood(t *testing.T, d *net.Dialer, addr string, n int, most int64) *idleFlood {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	f := &idleFlood{cancel: cancel}
	for range n {
		f.wg.Go(func() { f.hold(ctx, d, addr, most) })
	}
	t.Cleanup(func() { f.stop() })
	return f
}

// hold is one of the flood's connections, reopened until ctx ends or the
// flood has dialled most times.
func (f *idleFlood) hold(ctx context.Context, d *net.Dialer, addr string, most int64) {
	for ctx.Err() == nil && f.attempts.Add(1) <= most {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			// The kernel's backlog or ports ran short: a moment's pause
			// keeps this from spinning.
			select {
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		f.connected.Add(1)
		unhook := context.AfterFunc(ctx, func() { conn.Close() })
		io.Copy(io.Discard, conn) // until the hub hangs up
		unhook()
		conn.Close()
	}
}

// stop ends the flood, waits for its goroutines, and returns how many
// connections it opened.
func (f *idleFlood) stop() int64 {
	f.cancel()
	f.wg.Wait()
	return f.connected.Load()
}

// dialerFrom returns a dialer whose connections come from the loopback
// address ip, so that a test can play two source addresses: on Linux
// every 127.0.0.0/8 address is local. It skips the test where ip is not.
func dialerFrom(t *testing.T, ip string) *net.Dialer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("cannot use %s as a second loopback address: %v", ip, err)
	}
	ln.Close()
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: wait}
}

// dialSessionFrom connects to the hub at addr through d and says hello as
// name. The session is closed when the test ends.
func dialSessionFrom(t *testing.T, d *net.Dialer, addr, name string) (*mux.Session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	s, _, err := mux.Client(ctx, conn, protocol.Hello{Name: name}, hubtest.ClientConfig(addr))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { s.Close() })
	return s, nil
}

// TestSilentConnectionIsClosedAtTheFirstByteDeadline: a connection that
// sends nothing is closed at the first-byte deadline (2 s by default),
// long before the handshake's (10 s), so that holding a handshake slot
// costs an attacker a new connection every 2 s.
func TestSilentConnectionIsClosedAtTheFirstByteDeadline(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	conn := rawConn(t, h.Addr)
	expectClosedWithin(t, conn, 8*time.Second)
	waitUntil(t, "the hub to free the connection's slot", func() bool { return h.Handshaking() == 0 })
}

// TestHandshakeThatHasBegunOutlastsTheFirstByteDeadline: a client whose
// first byte comes in time may take the rest of the handshake timeout for
// the remainder (a slow link, a loaded machine).
func TestHandshakeThatHasBegunOutlastsTheFirstByteDeadline(t *testing.T) {
	const firstByte = 100 * time.Millisecond
	h := hubtest.Start(t, hub.Config{Mux: mux.Config{FirstByteTimeout: firstByte}})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, err := dialRaw(h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	slow := hubtest.PauseAfterFirstByte(conn, 3*firstByte)
	s, w, err := mux.Client(ctx, slow, protocol.Hello{Name: "slow"}, hubtest.ClientConfig(h.Addr))
	if err != nil {
		t.Fatalf("a handshake that paused after its first byte: %v", err)
	}
	defer s.Close()
	if w.Name != "slow" {
		t.Errorf("welcomed as %q, want slow", w.Name)
	}
}

// TestHandshakesBeyondAnAddressShareAreClosedAtOnce fills one address's
// share of the handshake slots with silent connections: the next ones
// from that address are closed at once (and logged a line a second at
// most), while a client from another address gets in, and the address
// gets in again once a slot of its share frees.
func TestHandshakesBeyondAnAddressShareAreClosedAtOnce(t *testing.T) {
	const share, burst = 4, 20
	logs := &logRecorder{}
	h := hubtest.Start(t, hub.Config{MaxHandshakesPerAddr: share, Logger: slog.New(logs),
		Mux: mux.Config{HandshakeTimeout: time.Minute, FirstByteTimeout: time.Minute}})
	from := dialerFrom(t, "127.0.0.2")
	var silent []net.Conn
	for range share {
		silent = append(silent, rawConnFrom(t, from, h.Addr))
	}
	waitUntil(t, "the address's share to be taken", func() bool { return h.Handshaking() == share })

	for range burst {
		expectClosedWithin(t, rawConnFrom(t, from, h.Addr), 5*time.Second)
	}
	if lines := logs.count("too many connections in their handshake from one address; closing its new ones"); lines < 1 || lines > burst/2 {
		t.Errorf("%d connections refused made %d log lines, want a few", burst, lines)
	}
	hubtest.Dial(t, h.Addr, "neighbour") // from 127.0.0.1
	// The hub frees the neighbour's slot just after its welcome has gone:
	// the silent ones keep theirs.
	waitUntil(t, "the neighbour's handshake slot to be freed, leaving the silent ones", func() bool { return h.Handshaking() == share })

	silent[0].Close()
	waitUntil(t, "the hub to free the closed connection's slot", func() bool { return h.Handshaking() == share-1 })
	if _, err := dialSessionFrom(t, from, h.Addr, "patient"); err != nil {
		t.Fatalf("a client from the flooding address once its share freed: %v", err)
	}
}

// rawConnFrom is rawConn through d.
func rawConnFrom(t *testing.T, d *net.Dialer, addr string) net.Conn {
	t.Helper()
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestClientsFromOneAddressAreBounded connects the default 32 clients from
// one address: the 33rd is refused with an Error that says why, a client
// from another address still gets in, and a place freed at that address
// is a place for its next client.
func TestClientsFromOneAddressAreBounded(t *testing.T) {
	const limit = 32 // the default
	h := hubtest.Start(t, hub.Config{})
	from := dialerFrom(t, "127.0.0.2")
	var sessions []*mux.Session
	for i := range limit {
		s, err := dialSessionFrom(t, from, h.Addr, fmt.Sprint("m", i))
		if err != nil {
			t.Fatalf("client %d from 127.0.0.2: %v", i, err)
		}
		sessions = append(sessions, s)
	}
	_, err := dialSessionFrom(t, from, h.Addr, "one-too-many")
	var pe *protocol.Error
	want := fmt.Sprintf("too many connections from 127.0.0.2: limit %d", limit)
	if !errors.As(err, &pe) || pe.Code != protocol.CodeLimit || pe.Text != want {
		t.Fatalf("client %d from 127.0.0.2: %v, want an Error %q %q", limit+1, err, protocol.CodeLimit, want)
	}
	hubtest.Dial(t, h.Addr, "alice") // from 127.0.0.1

	sessions[0].Close()
	waitUntil(t, "the hub to drop the client that left", func() bool { return len(h.Clients()) == limit })
	if _, err := dialSessionFrom(t, from, h.Addr, "next"); err != nil {
		t.Fatalf("a client from 127.0.0.2 once a place freed: %v", err)
	}
}
