package hub_test

import (
	"fmt"
	"testing"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
)

// A key holder who joins and leaves again and again gets a few of its
// joins announced, each with its leave, and no more: the others' screens
// are not filled with it. A client from another address is announced as
// ever.
func TestPresenceFloodFromOneAddressIsCoalesced(t *testing.T) {
	const burst = 4
	h := hubtest.Start(t, hub.Config{PresenceBurst: burst, PresencePerMinute: 1})
	bob := hubtest.Dial(t, h.Addr, "bob")
	flooder := dialerFrom(t, "127.0.0.2")
	const cycles = 30
	for i := range cycles {
		s, err := dialSessionFrom(t, flooder, h.Addr, fmt.Sprintf("m%d", i))
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		waitUntil(t, "the flooder to have left", func() bool { return len(h.Clients()) == 1 })
	}
	honest := dialerFrom(t, "127.0.0.3")
	if _, err := dialSessionFrom(t, honest, h.Addr, "carol"); err != nil {
		t.Fatal(err)
	}
	heard := bob.WaitFor(t, wait, "carol's join", hasPresence(protocol.Join, "carol"))
	joins, leaves := map[string]bool{}, map[string]bool{}
	for _, m := range heard {
		if p, ok := m.(protocol.Presence); ok && p.Client.Name != "carol" {
			switch p.Event {
			case protocol.Join:
				joins[p.Client.Name] = true
			case protocol.Leave:
				leaves[p.Client.Name] = true
			}
		}
	}
	if len(joins) > burst+1 { // +1: the bucket may have refilled by one
		t.Errorf("bob saw %d of %d joins from one address, want at most %d", len(joins), cycles, burst+1)
	}
	if len(joins) < burst {
		t.Errorf("bob saw %d joins, want the first %d announced", len(joins), burst)
	}
	for name := range leaves {
		if !joins[name] {
			t.Errorf("bob saw %s leave but never join", name)
		}
	}
}
