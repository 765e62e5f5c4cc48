package hub_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
)

// TestRelayStreamAfterTheRecipientLeftIsDroppedQuietly: a sender may
// open a data stream for a relayed file before it reads that the
// recipient left and the file failed. The hub reads and drops that
// stream; the sender's session goes on.
func TestRelayStreamAfterTheRecipientLeftIsDroppedQuietly(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	bob := hubtest.DialConfig(t, h.Addr, client.Config{Name: "bob", Inbox: filepath.Join(t.TempDir(), "inbox"),
		OnOffer: func(protocol.Offer) bool { return true }})
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
