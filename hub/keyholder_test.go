package hub_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// What one client sends must not fill the hub's log: every string it
// chose is clipped, and its lines are rate-limited.
func TestClientCannotFillTheLog(t *testing.T) {
	var log hubLog
	h := hubtest.Start(t, hub.Config{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	mallory := joined(t, h.Addr, "mallory")
	log.mu.Lock()
	before := log.buf.Len()
	log.mu.Unlock()

	// Offers to a name of nearly a megabyte: a megabyte of log each before.
	for i := range 8 {
		o := protocol.Offer{Transfer: fmt.Sprintf("%032x", i), To: lotsOf("x", 1_000_000), Files: []protocol.File{{Path: "a", Size: 1}}}
		sendRaw(t, mallory, rawJSON(t, o))
		until(t, "mallory", mallory, "a reject", func(m protocol.Message) bool { _, ok := m.(protocol.Reject); return ok })
	}
	// And many more offers, to nobody, as fast as they go.
	start := time.Now()
	const many = 2000
	for i := range many {
		o := protocol.Offer{Transfer: fmt.Sprintf("%032x", 1000+i), To: "nobody", Files: []protocol.File{{Path: "a", Size: 1}}}
		if err := protocol.WriteMessage(mallory, o); err != nil {
			t.Fatal(err)
		}
	}
	for range many {
		until(t, "mallory", mallory, "a reject", func(m protocol.Message) bool { _, ok := m.(protocol.Reject); return ok })
	}
	elapsed := time.Since(start)
	stillConnected(t, "mallory", mallory)
	// A message of a type of a megabyte, which ends the session: its
	// error quotes the type.
	_, eve := rawSession(t, h.Addr)
	if err := sayHello(eve, "eve"); err != nil {
		t.Fatal(err)
	}
	sendRaw(t, eve, []byte(`{"type":"`+lotsOf("x", 1_000_000)+`"}`))
	until(t, "eve", eve, "the error", func(m protocol.Message) bool { _, ok := m.(protocol.Error); return ok })
	waitUntil(t, "eve's leaving to be logged", func() bool {
		log.mu.Lock()
		defer log.mu.Unlock()
		for line := range strings.Lines(log.buf.String()) {
			if strings.Contains(line, `msg="client left"`) && strings.Contains(line, "name=eve") {
				return true
			}
		}
		return false
	})

	log.mu.Lock()
	grown, lines := log.buf.Len()-before, strings.Count(log.buf.String()[before:], "\n")
	log.mu.Unlock()
	if grown > 64<<10 {
		t.Errorf("the log grew by %d bytes", grown)
	}
	// The allowance: a burst of 50 and 10 a second, with room for the
	// lines that are not about mallory's offers.
	if max := 50 + 10*int(elapsed.Seconds()+1) + 10; lines > max {
		t.Errorf("%d log lines in %s, want at most %d", lines, elapsed.Round(time.Millisecond), max)
	}
}

// Offers are rate-limited per client, as chat is: beyond the burst the
// hub answers "busy" (offer again shortly), and the session goes on.
func TestOffersAreRateLimited(t *testing.T) {
	h := hubtest.Start(t, hub.Config{OffersPerSecond: 5, OfferBurst: 10})
	mallory := joined(t, h.Addr, "mallory")
	const n = 60
	for i := range n {
		o := protocol.Offer{Transfer: fmt.Sprintf("%032x", i), To: "nobody", Files: []protocol.File{{Path: "a", Size: 1}}}
		if err := protocol.WriteMessage(mallory, o); err != nil {
			t.Fatal(err)
		}
	}
	busy := 0
	for range n {
		r := until(t, "mallory", mallory, "a reject", func(m protocol.Message) bool { _, ok := m.(protocol.Reject); return ok }).(protocol.Reject)
		if r.Code == protocol.CodeBusy {
			busy++
		}
	}
	if busy < n/2 {
		t.Errorf("%d of %d offers sent at once were refused as busy, want most", busy, n)
	}
	stillConnected(t, "mallory", mallory)
}

// One address may hold only a few of a recipient's slots for offers that
// wait for an answer, however many sessions it opens: another can still
// offer it files.
func TestOneAddressCannotTakeEveryRelaySlot(t *testing.T) {
	h := hubtest.Start(t, hub.Config{MaxRelaysFromOne: 3})
	victim := joined(t, h.Addr, "victim")
	alice := joined(t, h.Addr, "alice")
	from2 := dialerFrom(t, "127.0.0.2")
	mallory := []net.Conn{joinedFrom(t, from2, h.Addr, "mallory"), joinedFrom(t, from2, h.Addr, "mallory2")}
	for i := range 4 {
		o := protocol.Offer{Transfer: fmt.Sprintf("%032x", i), To: "victim", Files: []protocol.File{{Path: "a", Size: 1}}}
		if err := protocol.WriteMessage(mallory[i/2], o); err != nil {
			t.Fatal(err)
		}
		if i < 3 { // in this order: the two sessions are read by two goroutines
			until(t, "victim", victim, "mallory's offer", isOffer)
		}
	}
	r := until(t, "mallory2", mallory[1], "a reject", func(m protocol.Message) bool { _, ok := m.(protocol.Reject); return ok }).(protocol.Reject)
	if r.Transfer != fmt.Sprintf("%032x", 3) || !strings.Contains(r.Reason, "from your address") || r.Code != protocol.CodeBusy {
		t.Errorf("reject %+v, want the fourth offer refused as busy for the slots mallory's address holds", r)
	}
	offerTo(t, alice, "victim")
	o := until(t, "victim", victim, "alice's offer", func(m protocol.Message) bool {
		o, ok := m.(protocol.Offer)
		return ok && o.From == "alice"
	}).(protocol.Offer)
	if len(o.Files) != 1 {
		t.Errorf("alice's offer reached victim with %d files", len(o.Files))
	}
}

// A client that asks who is there and never reads the answers holds at
// most its queue's bytes of the hub's memory, and is disconnected once it
// has left the queue full for the I/O timeout; the others chat on.
func TestUnreadAnswersAreBoundedInBytes(t *testing.T) {
	const queue = 256 << 10
	h := hubtest.Start(t, hub.Config{MaxClientQueue: queue, MaxClientsPerAddr: 100, ChatBurst: 1000, ChatMessagesPerSecond: 1000,
		Mux: mux.Config{IOTimeout: 2 * time.Second, Linger: 100 * time.Millisecond}})
	alice := hubtest.Dial(t, h.Addr, "alice")
	bob := hubtest.Dial(t, h.Addr, "bob")
	for i := range 40 { // a long answer to who
		hubtest.Dial(t, h.Addr, fmt.Sprintf("%s-%d", lotsOf("n", 24), i))
	}
	s, mallory := rawSession(t, h.Addr)
	if err := sayHello(mallory, "mallory"); err != nil {
		t.Fatal(err)
	}
	flooded := make(chan error, 1)
	go func() {
		for range 1000 {
			if err := protocol.WriteMessage(mallory, protocol.Who{}); err != nil {
				flooded <- err
				return
			}
		}
		flooded <- nil
	}()
	peak := int64(0)
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		peak = max(peak, h.Queued())
		select {
		case <-s.CloseChan():
			break wait
		case <-deadline:
			t.Fatal("the hub kept a client that reads nothing")
		case <-tick.C:
		}
	}
	<-flooded
	// Each client's queue may pass its bound by one message, the largest.
	if bound := int64(queue + protocol.MaxControlFrame); peak > bound {
		t.Errorf("the hub queued %d bytes at the peak, want at most %d", peak, bound)
	}
	if err := alice.Chat("still here"); err != nil {
		t.Fatal(err)
	}
	bob.WaitFor(t, 10*time.Second, "alice's line", func(ms []protocol.Message) bool {
		for _, c := range hubtest.Chats(ms) {
			if c.Text == "still here" {
				return true
			}
		}
		return false
	})
	if _, err := alice.Who(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// offerFiles offers n small files to be stored (or, with to, relayed) on
// the session ctrl, under the transfer id id, and returns the answer.
func offerFiles(t *testing.T, ctrl net.Conn, id, to string, n int) protocol.Message {
	t.Helper()
	o := protocol.Offer{Transfer: id, To: to}
	for i := range n {
		o.Files = append(o.Files, protocol.File{Path: fmt.Sprintf("%s/f%d", id, i), Size: 1 << 20, Mode: 0o644})
	}
	if err := protocol.WriteMessage(ctrl, o); err != nil {
		t.Fatal(err)
	}
	return until(t, id, ctrl, "the answer", func(m protocol.Message) bool {
		switch m := m.(type) {
		case protocol.Accept:
			return m.Transfer == id
		case protocol.Reject:
			return m.Transfer == id
		}
		return false
	})
}

// The entries of open transfers that are never sent are bounded per
// address and over the hub, and given back when the sessions end.
func TestOpenEntriesAreBoundedPerAddressAndGivenBack(t *testing.T) {
	h := hubtest.Start(t, hub.Config{MaxOpenEntriesPerAddr: 100, MaxOpenEntriesTotal: 150})
	from2 := dialerFrom(t, "127.0.0.2")
	var sessions []net.Conn
	for i := range 3 {
		ctrl := joinedFrom(t, from2, h.Addr, fmt.Sprintf("m%d", i))
		sessions = append(sessions, ctrl)
	}
	for i, ctrl := range sessions[:2] {
		if a, ok := offerFiles(t, ctrl, fmt.Sprintf("t%d", i), "", 50).(protocol.Accept); !ok {
			t.Fatalf("offer %d within the address's budget: %+v", i, a)
		}
	}
	r, ok := offerFiles(t, sessions[2], "t2", "", 10).(protocol.Reject)
	if !ok || r.Code != protocol.CodeBusy || !strings.Contains(r.Reason, "127.0.0.2") {
		t.Fatalf("offer over the address's budget: %+v, want busy", r)
	}
	from3 := dialerFrom(t, "127.0.0.3")
	carol := joinedFrom(t, from3, h.Addr, "carol")
	if _, ok := offerFiles(t, carol, "c0", "", 50).(protocol.Accept); !ok {
		t.Fatal("another address's offer was refused")
	}
	if r, ok := offerFiles(t, carol, "c1", "", 10).(protocol.Reject); !ok || !strings.Contains(r.Reason, "on this hub") {
		t.Fatalf("offer over the hub's budget: %+v, want busy", r)
	}
	if n := h.OpenEntries(); n != 150 {
		t.Errorf("the hub counts %d open entries, want 150", n)
	}
	for _, c := range append(sessions, carol) {
		c.Close()
	}
	waitUntil(t, "the entries to be given back", func() bool { return h.OpenEntries() == 0 })
}

// joinedFrom connects by hand, as joined does, through d.
func joinedFrom(t *testing.T, d *net.Dialer, addr, name string) net.Conn {
	t.Helper()
	s, ctrl, err := dialSessionVia(d, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := sayHello(ctrl, name); err != nil {
		t.Fatal(err)
	}
	return ctrl
}

// An offer's paths are checked before anything walks their folders, and
// a path deeper than transfer.MaxPathDepth is refused: an offer of paths
// 1,300 folders deep took 4.8 s of the hub's time (and, before the paths
// were checked first, one path of 512 KB took 34 s to count).
func TestDeepPathsAreRefusedFirst(t *testing.T) {
	tests := []struct {
		name, path, want string
	}{
		{"1,300 folders deep", strings.Repeat("É/", 1300) + "f", "deep"},
		{"512 KB of folders", strings.Repeat("a/", 256<<10) + "f", "longer than"},
	}
	h := hubtest.Start(t, hub.Config{Mux: mux.Config{Linger: 50 * time.Millisecond}})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, to := range []string{"", "victim"} {
				id := fmt.Sprintf("%d%s", i, to)
				o := protocol.Offer{Transfer: id, To: to, Files: []protocol.File{{Path: tt.path, Size: 1, Mode: 0o644}}}
				victim := joined(t, h.Addr, "victim")
				mallory := joined(t, h.Addr, "mallory")
				if err := protocol.WriteMessage(mallory, o); err != nil {
					t.Fatal(err)
				}
				r, ok := until(t, "mallory", mallory, "the answer", func(m protocol.Message) bool {
					switch m.(type) {
					case protocol.Accept, protocol.Reject:
						return true
					}
					return false
				}).(protocol.Reject)
				if !ok || !strings.Contains(r.Reason, tt.want) {
					t.Errorf("offer (to %q) answered %+v, want a reject saying %q", to, r, tt.want)
				}
				victim.Close()
				mallory.Close()
				waitUntil(t, "both to leave", func() bool { return len(h.Clients()) == 0 })
			}
		})
	}
}

// Clients that read nothing can fill the hub's bound on queued messages
// (MaxQueuedBytes), but the bound holds, and another client's answer
// waits for room and comes: it is not disconnected for what others did.
func TestHubsQueueBoundHoldsAndOthersAreServed(t *testing.T) {
	const bound = 96 << 10
	h := hubtest.Start(t, hub.Config{MaxQueuedBytes: bound, MaxClientsPerAddr: 100, ChatBurst: 1000, ChatMessagesPerSecond: 1000,
		Mux: mux.Config{IOTimeout: 2 * time.Second, Linger: 100 * time.Millisecond}})
	alice := hubtest.Dial(t, h.Addr, "alice")
	for i := range 30 { // a long answer to who
		hubtest.Dial(t, h.Addr, fmt.Sprintf("%s-%d", lotsOf("n", 24), i))
	}
	for i := range 3 {
		_, ctrl := rawSession(t, h.Addr)
		if err := sayHello(ctrl, fmt.Sprintf("mallory%d", i)); err != nil {
			t.Fatal(err)
		}
		go func() {
			for range 500 {
				if protocol.WriteMessage(ctrl, protocol.Who{}) != nil {
					return
				}
			}
		}()
	}
	peak := int64(0)
	waitUntil(t, "the hub's queues to fill", func() bool {
		peak = max(peak, h.Queued())
		return h.Queued() > bound/2
	})
	answered := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := alice.Who(ctx)
		answered <- err
	}()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case err := <-answered:
			if err != nil {
				t.Fatalf("alice's who while the hub's queues are full: %v", err)
			}
			done = true
		case <-tick.C:
			peak = max(peak, h.Queued())
		}
	}
	if err := alice.Chat("still here"); err != nil {
		t.Fatalf("alice after the flood: %v", err)
	}
	// A message the hub must send (its last words) may pass the bound.
	if limit := int64(bound + protocol.MaxControlFrame); peak > limit {
		t.Errorf("the hub queued %d bytes, want at most %d", peak, limit)
	}
}
