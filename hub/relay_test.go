package hub_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// TestRelayStreamAfterTheRecipientLeftIsDroppedQuietly: a sender may
// open a data stream for a relayed file before it reads that the
// recipient left and the file failed. The hub reads and drops that
// stream; the sender's session goes on.
func TestRelayStreamAfterTheRecipientLeftIsDroppedQuietly(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	bob := hubtest.DialRelay(t, h.Addr, hubtest.RelayConfig{Name: "bob", Inbox: filepath.Join(t.TempDir(), "inbox")})
	s, ctrl := rawSession(t, h.Addr)
	if err := sayHello(ctrl, "alice"); err != nil {
		t.Fatal(err)
	}
	protocol.WriteMessage(ctrl, protocol.Offer{Transfer: "t1", To: "bob", Files: []protocol.File{{Path: "a.txt", Size: 5}}})
	if m := answer(t, ctrl, "t1"); m.Type() != "accept" {
		t.Fatalf("want accept, got %v", m)
	}
	bob.Close()
	ctrl.SetReadDeadline(time.Now().Add(wait))
	for {
		m, err := protocol.ReadMessage(ctrl)
		if err != nil {
			t.Fatalf("waiting for the result of a.txt: %v", err)
		}
		if r, ok := m.(protocol.Result); ok {
			if r.Transfer != "t1" || r.File != 0 || r.Error == "" {
				t.Fatalf("result: %+v, want a.txt failed", r)
			}
			break
		}
	}
	st, err := s.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	protocol.WriteHeader(st, protocol.DataHeader{Transfer: "t1", File: 0})
	st.Write([]byte("hello"))
	st.Close()
	protocol.WriteMessage(ctrl, protocol.Who{})
	for {
		m, err := protocol.ReadMessage(ctrl)
		if err != nil {
			t.Fatalf("alice's session after her stream for a failed relay: %v", err)
		}
		switch m := m.(type) {
		case protocol.Error:
			t.Fatalf("the hub refused alice: %+v", m)
		case protocol.Clients:
			return
		}
	}
}

// TestRelayHoldsBackTheSenderOfARecipientThatDoesNotRead: the hub relays
// no faster than the recipient reads, holding at most its copy buffer and
// the two streams' windows: a sender whose recipient reads nothing can
// write only that much before its writes stall (and its short I/O
// timeout ends its session).
func TestRelayHoldsBackTheSenderOfARecipientThatDoesNotRead(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	_, bob := rawSession(t, h.Addr)
	if err := sayHello(bob, "bob"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := hubtest.DialRelay(t, h.Addr, hubtest.RelayConfig{Name: "alice", IOTimeout: time.Second})
	const size = 64 << 20
	src := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(src, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(src, size); err != nil { // sparse
		t.Fatal(err)
	}
	m, _, err := transfer.Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	// Bob accepts the offer, and the hub's stream, and reads nothing.
	accepted := make(chan error, 1)
	go func() {
		for {
			msg, err := protocol.ReadMessage(bob)
			if err != nil {
				accepted <- err
				return
			}
			if o, ok := msg.(protocol.Offer); ok {
				accepted <- protocol.WriteMessage(bob, protocol.Accept{Transfer: o.Transfer})
				return
			}
		}
	}()
	var sent atomic.Int64
	rep, err := alice.Upload(ctx, m, transfer.SendOptions{To: "bob", Parallel: 1, Observer: transfer.Observer{Wrote: func(n int) { sent.Add(int64(n)) }}})
	if aerr := <-accepted; aerr != nil {
		t.Fatalf("bob: %v", aerr)
	}
	if !errors.Is(err, transfer.ErrConnectionLost) {
		t.Errorf("Upload: %v (report %+v), want the connection lost to the I/O timeout", err, rep.Files)
	}
	// The windows: alice's stream to the hub (1 MiB), the hub's to bob
	// (yamux's 256 KiB, as bob's raw session never grows it), and the
	// hub's 64 KiB buffer.
	if got, limit := sent.Load(), int64(2<<20); got > limit {
		t.Errorf("alice wrote %d bytes to a recipient that read none, want at most %d", got, limit)
	}
	t.Logf("alice wrote %d bytes before stalling", sent.Load())
}
