package client_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
)

// connect opens a session to addr for the test, closed when it ends.
func connect(t *testing.T, addr string, cfg client.SessionConfig) *client.Session {
	t.Helper()
	if cfg.Mux.Key.IsZero() {
		cfg.Mux = hubtest.ClientConfig(addr)
	}
	s, err := client.Connect(context.Background(), addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// next returns the next event of type E from events, skipping others, or
// fails the test after a while.
func next[E client.Event](t *testing.T, events <-chan client.Event) E {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				var zero E
				t.Fatalf("events ended before a %T", zero)
			}
			if e, ok := ev.(E); ok {
				return e
			}
		case <-timeout:
			var zero E
			t.Fatalf("no %T within 30s", zero)
		}
	}
}

// TestSessionSendsToAPersonWhoAccepts: bob's session numbers alice's
// offer and waits for Accept; each file's outcome and the offer's end
// come to bob as events, and alice's Send reports every file delivered,
// its events ending with SendDone.
func TestSessionSendsToAPersonWhoAccepts(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	data := hubtest.Testdata(t, "../testdata")
	inbox := filepath.Join(t.TempDir(), "bob")
	bob := connect(t, h.Addr, client.SessionConfig{Name: "bob", Dir: inbox})
	bobEvents := bob.Events()
	alice := connect(t, h.Addr, client.SessionConfig{Name: "alice"})
	aliceEvents := alice.Events()
	if c := next[client.Connected](t, bobEvents); c.Name != "bob" || c.Again {
		t.Fatalf("bob's first event: %+v", c)
	}

	files, _, err := client.Paths(data)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		rep *client.Report
		err error
	}
	sent := make(chan result, 1)
	go func() {
		rep, err := alice.Send(context.Background(), files, client.SendOptions{To: "bob"})
		sent <- result{rep, err}
	}()

	o := next[client.Offered](t, bobEvents).Offer
	if o.N != 1 || o.From != "alice" || o.Decision != client.Ask {
		t.Fatalf("offer: %+v", o)
	}
	if got := bob.Offers(); len(got) != 1 || got[0].N != 1 {
		t.Fatalf("Offers: %+v", got)
	}
	if err := bob.Accept(1); err != nil {
		t.Fatal(err)
	}
	if err := bob.Accept(1); !errors.Is(err, client.ErrNoOffer) {
		t.Fatalf("accepting twice: %v", err)
	}
	wantFiles, _, _ := o.Totals()
	for range wantFiles {
		if d := next[client.FileDone](t, bobEvents); d.Offer != 1 || d.Report.Status != client.Delivered {
			t.Fatalf("file: %+v", d)
		}
	}
	if d := next[client.OfferDone](t, bobEvents); d.Received != wantFiles || d.Failed != 0 || d.Cut {
		t.Fatalf("offer done: %+v", d)
	}
	r := <-sent
	if r.err != nil || r.rep.Failed() > 0 {
		t.Fatal(r.err, r.rep)
	}
	hubtest.SameTree(t, data, filepath.Join(inbox, "testdata"))

	started := next[client.SendStarted](t, aliceEvents)
	if started.To != "bob" || started.Files != wantFiles {
		t.Fatalf("send started: %+v", started)
	}
	done := 0
	for {
		ev := <-aliceEvents
		if d, ok := ev.(client.FileDone); ok && d.Send == started.Send {
			done++
		}
		if d, ok := ev.(client.SendDone); ok {
			if d.Send != started.Send || d.Err != nil || done != wantFiles {
				t.Fatalf("send done: %+v after %d files", d, done)
			}
			break
		}
	}
}

// TestSessionReconnectsKeepingItsNameAndOfferNumbers: when bob's
// connection is cut, his session says so, dials again under the same
// name, withdraws the offer that waited on the old connection, and goes
// on numbering offers where it was.
func TestSessionReconnectsKeepingItsNameAndOfferNumbers(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	p := hubtest.StartProxy(t, h.Addr)
	link := hubtest.ClientConfig(h.Addr)
	link.KeepAlive, link.IOTimeout = 100*time.Millisecond, time.Second
	bob := connect(t, p.Addr, client.SessionConfig{Name: "bob", Dir: t.TempDir(), Mux: link,
		Backoff: client.Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}})
	events := bob.Events()
	alice := connect(t, h.Addr, client.SessionConfig{Name: "alice"})
	files, _, err := client.Paths(hubtest.Testdata(t, "../testdata"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sent := make(chan error, 1)
	go func() {
		_, err := alice.Send(ctx, files, client.SendOptions{To: "bob"})
		sent <- err
	}()
	if o := next[client.Offered](t, events).Offer; o.N != 1 {
		t.Fatalf("first offer: %+v", o)
	}

	p.Cut()
	if d := next[client.Disconnected](t, events); !d.Reconnecting {
		t.Fatalf("disconnected: %+v", d)
	}
	if w := next[client.Withdrawn](t, events); w.Offer.N != 1 {
		t.Fatalf("withdrawn: %+v", w)
	}
	c := next[client.Connected](t, events)
	if !c.Again || c.Name != "bob" {
		t.Fatalf("reconnected: %+v", c)
	}
	if bob.Name() != "bob" {
		t.Fatalf("name after reconnect: %q", bob.Name())
	}
	if err := bob.Chat("back"); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-sent
	go func() {
		_, err := alice.Send(context.Background(), files, client.SendOptions{To: "bob"})
		sent <- err
	}()
	o := next[client.Offered](t, events).Offer
	if o.N != 2 {
		t.Fatalf("the offer after the reconnect is numbered %d, want 2", o.N)
	}
	if err := bob.Decline(o.N, "not now"); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err == nil {
		t.Fatal("a declined send succeeded")
	}
}

// TestSessionWithoutReconnectEnds: with NoReconnect, a lost connection
// ends the session: Disconnected, then the events' channel closes, and
// Err wraps ErrConnectionLost.
func TestSessionWithoutReconnectEnds(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	p := hubtest.StartProxy(t, h.Addr)
	s := connect(t, p.Addr, client.SessionConfig{Name: "carol", NoReconnect: true, Mux: hubtest.ClientConfig(h.Addr)})
	events := s.Events()
	next[client.Connected](t, events)
	p.Cut()
	if d := next[client.Disconnected](t, events); d.Reconnecting {
		t.Fatalf("disconnected: %+v", d)
	}
	for range events {
	}
	<-s.Done()
	if !errors.Is(s.Err(), client.ErrConnectionLost) {
		t.Fatalf("Err: %v", s.Err())
	}
	if err := s.Chat("anyone?"); !errors.Is(err, client.ErrConnectionLost) {
		t.Fatalf("Chat after the end: %v", err)
	}
}
