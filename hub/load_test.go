package hub_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// attackTime bounds how long the hub takes to hang up on a hostile
// connection: a raw connection from when the hub accepts it (its
// handshake timeouts start then too), a session from the hub's last word
// to it once its attack is done (the hub first sends the answers and
// lines queued for it, which the attacker, not reading while it
// attacked, takes slowly on a loaded machine). The clock leaves out what
// is not the hub's doing, which a loaded machine stretches to many
// seconds: a connection's wait in the kernel's queue until the hub
// accepts it, the other sessions' handshakes, and the attacker's own
// writes.
const attackTime = 10 * time.Second

// patience bounds what attackTime does not: the wait for the hub to
// accept a raw connection, and a session's attack and all the hub says
// after it. It is a safety net, for a hub that stops accepting or
// reading, or talks for ever.
const patience = time.Minute

var (
	// errKeptOpen is an attacker's report that the hub did not hang up.
	errKeptOpen = errors.New("hub kept the connection open")
	// errNotAccepted is an attacker's report that the hub never
	// accepted its connection.
	errNotAccepted = errors.New("hub never accepted the connection")
)

// attack is one kind of hostile connection: n of them at once, each
// talking plain TCP (raw) or, after its Hello, on a session (sess). Each
// function does its worst and returns; the hub may hang up at any point.
type attack struct {
	name string
	n    int
	raw  func(conn net.Conn)
	sess func(s *yamux.Session, ctrl net.Conn)
}

// The flooders are few enough that, even if the hub sent alice nothing
// until they were done, her queue (1,024) would hold their lines (at most
// 4 × (100 + 20 a second for as long as they flood)) and the presence
// lines of every session attacker (2 × 59) besides bob's 50: so none of
// bob's lines can be dropped for a full queue. (Floods of long lines,
// which the hub multiplies by the number of clients, are left to
// TestChatRateIsLimited: here they would only measure the race
// detector.)
var attacks = []attack{
	{name: "silent", n: 80, raw: func(net.Conn) {}},
	{name: "byte drip", n: 40, raw: func(conn net.Conn) {
		drip(conn, 50*time.Millisecond, 80) // 4 s, past the handshake deadline
	}},
	{name: "random bytes", n: 40, raw: func(conn net.Conn) {
		b := make([]byte, 4096)
		rand.Read(b)
		conn.Write(b)
	}},
	{name: "HTTP", n: 30, raw: func(conn net.Conn) {
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: hub\r\n\r\n")
	}},
	{name: "fake proof", n: 30, raw: func(conn net.Conn) { fakeProof(conn) }},
	{name: "bad frame", n: 30, sess: func(s *yamux.Session, ctrl net.Conn) {
		ctrl.Write(binary.BigEndian.AppendUint32(nil, 0xffffffff))
	}},
	{name: "1000 streams", n: 20, sess: func(s *yamux.Session, ctrl net.Conn) {
		for range 1000 {
			st, err := s.OpenStream()
			if err != nil {
				return
			}
			st.Write([]byte("garbage"))
		}
	}},
	{name: "chat flood", n: 4, sess: func(s *yamux.Session, ctrl net.Conn) {
		for i := range 1000 {
			if protocol.WriteMessage(ctrl, protocol.Chat{Text: fmt.Sprint("flood ", i)}) != nil {
				return
			}
		}
	}},
	{name: "who flood", n: 5, sess: func(s *yamux.Session, ctrl net.Conn) {
		for range 1000 {
			if protocol.WriteMessage(ctrl, protocol.Who{}) != nil {
				return
			}
		}
	}},
}

// rawAttack runs do on a plain TCP connection to h once h has accepted
// it, then reads until the hub closes it.
func rawAttack(h *hubtest.Hub, do func(net.Conn)) error {
	dialled := time.Now()
	conn, err := dialRaw(h.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	accepted, err := h.Accepted(ctx, conn.LocalAddr(), dialled)
	if err != nil {
		return errNotAccepted
	}
	conn.SetDeadline(accepted.Add(attackTime))
	do(conn)
	_, err = io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errKeptOpen
	}
	return nil
}

// sessionAttack connects as a client holding the key would and says hello,
// calls arrived, waits for charge, runs do and then reads the control
// stream until the hub ends the session.
func sessionAttack(addr string, do func(*yamux.Session, net.Conn), arrived func(), charge <-chan struct{}) error {
	s, ctrl, err := dialSession(addr)
	if err == nil {
		defer s.Close()
		ctrl.SetDeadline(time.Now().Add(patience)) // the hub's handshake timeout ends a hello it does not answer
		err = sayHello(ctrl, "mallory")
	}
	arrived()
	if err != nil {
		return err
	}
	<-charge
	limit := time.Now().Add(patience)
	ctrl.SetDeadline(limit)
	do(s, ctrl)
	return awaitHangup(s, ctrl, limit)
}

// awaitHangup reads ctrl until the hub ends the session s. It returns
// errKeptOpen if the hub says nothing for attackTime without ending it,
// or has not ended it by limit.
func awaitHangup(s *yamux.Session, ctrl net.Conn, limit time.Time) error {
	buf := make([]byte, 32<<10)
	for {
		ctrl.SetReadDeadline(time.Now().Add(min(attackTime, time.Until(limit))))
		_, err := ctrl.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return errKeptOpen
		}
		if err != nil {
			break // the hub closed the control stream, or the session
		}
	}
	t := time.NewTimer(attackTime)
	defer t.Stop()
	select {
	case <-s.CloseChan():
		return nil
	case <-t.C:
		return errKeptOpen
	}
}

// TestHubServesClientsUnderHostileLoad runs a few hundred hostile
// connections at once while one client uploads the test tree and chats
// with another. The upload must verify, every chat line arrive in order,
// every hostile connection be closed, and afterwards the hub must list
// only the two clients and be back to the goroutines it had before.
func TestHubServesClientsUnderHostileLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("hostile load takes a few seconds")
	}
	// Every attacker comes from 127.0.0.1, as alice and bob do: the shares
	// per address are lifted, so that the session attackers all get in
	// and the others all reach the hub's handshake (the shares have tests
	// of their own in admission_test.go).
	h := hubtest.Start(t, hub.Config{Mux: mux.Config{HandshakeTimeout: 2 * time.Second, Linger: 200 * time.Millisecond},
		MaxHandshakesPerAddr: hub.DefaultMaxHandshakes, MaxClientsPerAddr: 100})
	alice := hubtest.Dial(t, h.Addr, "alice")
	bob := hubtest.Dial(t, h.Addr, "bob")
	for _, c := range []*hubtest.Client{alice, bob} {
		if _, err := c.Who(t.Context()); err != nil { // so the hub runs all of its side
			t.Fatal(err)
		}
	}
	src := hubtest.Testdata(t, "../testdata")
	m, _, err := transfer.Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	baseline := runtime.NumGoroutine()

	// The session attackers get in first, so that the attacks after the
	// handshake happen: the others would take every handshake slot.
	// Then everybody charges at once.
	start := time.Now()
	outcomes := make(chan string, 1000)
	report := func(a attack, err error) {
		switch {
		case errors.Is(err, errKeptOpen):
			t.Errorf("%s: %v", a.name, err)
			outcomes <- a.name + ": kept open"
		case errors.Is(err, errNotAccepted):
			t.Errorf("%s: %v", a.name, err)
			outcomes <- a.name + ": never accepted"
		case err != nil:
			outcomes <- a.name + ": turned away before attacking"
		default:
			outcomes <- a.name + ": hung up on"
		}
	}
	var attackers, arrived sync.WaitGroup
	t.Cleanup(attackers.Wait) // also when the test fails half-way
	charge := make(chan struct{})
	for _, a := range attacks {
		for range a.n {
			if a.sess != nil {
				arrived.Add(1)
				attackers.Go(func() { report(a, sessionAttack(h.Addr, a.sess, arrived.Done, charge)) })
			}
		}
	}
	arrived.Wait()
	close(charge)
	for _, a := range attacks {
		for range a.n {
			if a.raw != nil {
				attackers.Go(func() { report(a, rawAttack(h, a.raw)) })
			}
		}
	}

	uploaded := make(chan error, 1)
	go func() {
		rep, err := alice.Upload(context.Background(), m, transfer.SendOptions{})
		if err == nil && rep.Failed() > 0 {
			err = fmt.Errorf("%d files failed: %+v", rep.Failed(), rep.Files)
		}
		uploaded <- err
	}()
	const lines = 50
	var talkers sync.WaitGroup
	for _, c := range []*hubtest.Client{alice, bob} {
		talkers.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond) // a second of chat, well within the rate
			defer tick.Stop()
			for i := range lines {
				if err := c.Chat(fmt.Sprint(c.Name(), " ", i)); err != nil {
					t.Errorf("%s cut off after %d lines: %v", c.Name(), i, err)
					return
				}
				<-tick.C
			}
		})
	}
	talkers.Wait()
	if err := <-uploaded; err != nil {
		t.Fatalf("upload under attack: %v", err)
	}
	hubtest.SameTree(t, src, filepath.Join(h.Dir, "testdata"))
	expectLines(t, bob, "alice", lines)
	expectLines(t, alice, "bob", lines)

	attackers.Wait()
	close(outcomes)
	t.Logf("hostile connections over %s: %s", time.Since(start).Round(time.Millisecond), tally(outcomes))
	waitUntil(t, "the hub to list only alice and bob", func() bool {
		c := h.Clients()
		return len(c) == 2 && c[0].Name == "alice" && c[1].Name == "bob"
	})
	waitForGoroutines(t, baseline)
}

// expectLines waits until c has heard n chat lines from `from`, and checks
// that they came once each, in order.
func expectLines(t *testing.T, c *hubtest.Client, from string, n int) {
	t.Helper()
	mine := func(ms []protocol.Message) []string {
		var out []string
		for _, ch := range hubtest.Chats(ms) {
			if ch.From == from {
				out = append(out, ch.Text)
			}
		}
		return out
	}
	heard := mine(c.WaitFor(t, wait, "every line from "+from, func(ms []protocol.Message) bool { return len(mine(ms)) >= n }))
	for i, text := range heard {
		if want := fmt.Sprint(from, " ", i); text != want {
			t.Fatalf("%s's line %d reached %s as %q, want %q", from, i, c.Name(), text, want)
		}
	}
}

// waitForGoroutines polls until the process is back to at most a few
// goroutines more than baseline, and fails with a dump of them if not.
func waitForGoroutines(t *testing.T, baseline int) {
	t.Helper()
	const slack = 5
	deadline := time.After(wait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > baseline+slack {
		select {
		case <-tick.C:
		case <-deadline:
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, %d before the attack:\n%s", runtime.NumGoroutine(), baseline, buf)
		}
	}
}

// tally counts the outcomes, for the log.
func tally(outcomes <-chan string) string {
	counts := map[string]int{}
	for o := range outcomes {
		counts[o]++
	}
	var out []string
	for o, n := range counts {
		out = append(out, fmt.Sprintf("%s %d", o, n))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}
