package hub_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// heardChat reports whether msgs hold a chat line with text.
func heardChat(text string) func([]protocol.Message) bool {
	return func(msgs []protocol.Message) bool {
		return slices.ContainsFunc(hubtest.Chats(msgs), func(c protocol.Chat) bool { return c.Text == text })
	}
}

// TestDirectMessageReachesOnlyItsRecipient sends a direct message through
// the hub from alice (a client speaking the protocol by hand: muxfer's own
// send direct messages end to end, and take none through the hub) and
// then a public line: whoever hears the public line has heard everything
// alice sent before it, so only the recipient may hold the direct one. A
// name nobody has gets alice a notice, and her session goes on.
func TestDirectMessageReachesOnlyItsRecipient(t *testing.T) {
	tests := []struct {
		name string
		to   string
		want string // who hears it; "" for nobody, and alice gets a notice
	}{
		{"present name", "bob", "bob"},
		{"name in other case", "BOB", "bob"},
		{"absent name", "dave", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hubtest.Start(t, hub.Config{})
			var d net.Dialer
			dial := func(name string) *mux.Session {
				s, err := dialSessionFrom(t, &d, h.Addr, name)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			alice := dial("alice")
			others := map[string]*mux.Session{"bob": dial("bob"), "carol": dial("carol")}
			if err := alice.Send(protocol.Chat{To: tt.to, Text: "psst"}); err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				heard := recvUntil(t, alice, "a notice", func(m protocol.Message) bool { _, ok := m.(protocol.Notice); return ok })
				n := heard[len(heard)-1].(protocol.Notice)
				if n.Code != protocol.NoticeNoClient || n.Text != `no client named "dave"` {
					t.Errorf("notice %+v, want code %q and text %q", n, protocol.NoticeNoClient, `no client named "dave"`)
				}
			}
			if err := alice.Send(protocol.Chat{Text: "after"}); err != nil {
				t.Fatal(err)
			}
			for name, c := range others {
				chats := hubtest.Chats(recvUntil(t, c, "alice's public line", func(m protocol.Message) bool {
					ch, ok := m.(protocol.Chat)
					return ok && ch.Text == "after"
				}))
				var direct []protocol.Chat
				for _, ch := range chats {
					if ch.Text == "psst" {
						direct = append(direct, ch)
					}
				}
				if name != tt.want {
					if len(direct) != 0 {
						t.Errorf("%s heard the direct message %+v", name, direct)
					}
					continue
				}
				if len(direct) != 1 || direct[0].From != "alice" || direct[0].FromID == 0 || direct[0].To != "bob" {
					t.Errorf("%s heard %+v, want one direct message from alice to bob", name, direct)
				}
				if pub := chats[len(chats)-1]; pub.To != "" {
					t.Errorf("public line arrived with to %q", pub.To)
				}
			}
			select {
			case <-alice.Done():
				t.Error("alice's session ended")
			default:
			}
		})
	}
}

// recvUntil reads s's control messages until ok holds for one, and
// returns those it read; it fails the test if that takes longer than
// wait.
func recvUntil(t *testing.T, s *mux.Session, what string, ok func(protocol.Message) bool) []protocol.Message {
	t.Helper()
	got := make(chan []protocol.Message, 1)
	go func() {
		var ms []protocol.Message
		for {
			m, err := s.Recv()
			if err != nil {
				got <- nil
				return
			}
			if ms = append(ms, m); ok(m) {
				got <- ms
				return
			}
		}
	}()
	select {
	case ms := <-got:
		if ms == nil {
			t.Fatalf("the session ended before %s", what)
		}
		return ms
	case <-time.After(wait):
		s.Close()
		<-got
		t.Fatalf("no %s within %s", what, wait)
		return nil
	}
}

// TestRenameFollowsHelloRules renames alice: a name hello would give
// unchanged and nobody else has is hers, and bob hears of it; any other
// is refused with a reason, her name stays, and her session goes on.
func TestRenameFollowsHelloRules(t *testing.T) {
	tests := []struct {
		name   string
		want   string
		got    string // alice's name afterwards
		reason string // in the refusal; "" if it succeeds
	}{
		{"free name", "alicia", "alicia", ""},
		{"own name in other case", "Alice", "Alice", ""},
		{"own name", "alice", "alice", ""},
		{"taken", "bob", "alice", `name "bob" is taken`},
		{"taken in other case", "BOB", "alice", `name "BOB" is taken`},
		{"space", "ali ce", "alice", "not allowed"},
		{"empty", "", "alice", "not allowed"},
		{"too long", strings.Repeat("a", hub.MaxNameLen+1), "alice", "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hubtest.Start(t, hub.Config{})
			alice := hubtest.Dial(t, h.Addr, "alice")
			bob := hubtest.Dial(t, h.Addr, "bob")
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			got, err := alice.Rename(ctx, tt.want)
			if tt.reason == "" && err != nil {
				t.Fatalf("Rename(%q): %v", tt.want, err)
			}
			if tt.reason != "" && (!errors.Is(err, client.ErrNameRefused) || !strings.Contains(err.Error(), tt.reason)) {
				t.Fatalf("Rename(%q) error %v, want ErrNameRefused saying %q", tt.want, err, tt.reason)
			}
			if got != tt.got || alice.Name() != tt.got {
				t.Errorf("Rename(%q) = %q, Name() = %q; want %q", tt.want, got, alice.Name(), tt.got)
			}
			if err := alice.Chat("after"); err != nil {
				t.Fatal(err)
			}
			heard := bob.WaitFor(t, wait, "alice's line", heardChat("after"))
			var renames []protocol.Presence
			for _, m := range heard {
				if p, ok := m.(protocol.Presence); ok && p.Event == protocol.Rename {
					renames = append(renames, p)
				}
			}
			if changed := tt.got != "alice"; !changed && len(renames) != 0 {
				t.Errorf("bob heard %+v for a name that did not change", renames)
			} else if changed && (len(renames) != 1 || renames[0].OldName != "alice" || renames[0].Client.Name != tt.got || renames[0].Client.ID != alice.ID()) {
				t.Errorf("bob heard %+v, want one rename from alice to %s", renames, tt.got)
			}
			if from := hubtest.Chats(heard)[0].From; from != tt.got {
				t.Errorf("alice's line came from %q, want %q", from, tt.got)
			}
			list, err := bob.Who(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if list[0].Name != tt.got {
				t.Errorf("who lists alice as %q, want %q", list[0].Name, tt.got)
			}
			if err := alice.Err(); err != nil {
				t.Errorf("alice's session ended: %v", err)
			}
		})
	}
}

// TestRenameFreesTheOldName: once alice is alicia, a newcomer may be
// alice, and alicia is taken.
func TestRenameFreesTheOldName(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	alice := hubtest.Dial(t, h.Addr, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := alice.Rename(ctx, "alicia"); err != nil {
		t.Fatal(err)
	}
	if got := hubtest.Dial(t, h.Addr, "alice").Name(); got != "alice" {
		t.Errorf("newcomer asking for alice got %q", got)
	}
	if got := hubtest.Dial(t, h.Addr, "ALICIA").Name(); got != "ALICIA-2" {
		t.Errorf("newcomer asking for ALICIA got %q, want ALICIA-2", got)
	}
}

// TestWhoShowsIdleTimeAndTransfers: a client that chatted is less idle
// than one that has said nothing for longer, asking who does not count
// as activity, and a transfer whose file has not arrived counts as
// running.
func TestWhoShowsIdleTimeAndTransfers(t *testing.T) {
	h := hubtest.Start(t, noChatLimit(hub.Config{}))
	alice := hubtest.Dial(t, h.Addr, "alice")
	bob := hubtest.Dial(t, h.Addr, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	who := func() map[string]protocol.ClientInfo {
		t.Helper()
		list, err := bob.Who(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]protocol.ClientInfo{}
		for _, c := range list {
			out[c.Name] = c
		}
		return out
	}
	// Poll until alice has been idle a while.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for who()["alice"].IdleMS < 30 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("alice's idle time never reached 30 ms")
		}
	}
	if err := bob.Chat("hi"); err != nil {
		t.Fatal(err)
	}
	alice.WaitFor(t, wait, "bob's line", heardChat("hi"))
	list := who()
	if list["bob"].IdleMS >= list["alice"].IdleMS {
		t.Errorf("bob chatted after alice was idle 30 ms, yet idle %d ms against her %d ms", list["bob"].IdleMS, list["alice"].IdleMS)
	}

	// A third client offers a file and never sends it.
	sess, _, err := mux.Dial(ctx, h.Addr, protocol.Hello{Version: protocol.Version, Name: "carol"}, hubtest.ClientConfig(h.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.Send(protocol.Offer{Transfer: "t1", Files: []protocol.File{{Path: "later.txt", Size: 5, Mode: 0o644}}}); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := sess.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.(protocol.Accept); ok {
			break
		}
	}
	list = who()
	if list["carol"].Transfers != 1 || list["alice"].Transfers != 0 || list["bob"].Transfers != 0 {
		t.Errorf("who says %+v, want carol with 1 transfer and the others none", list)
	}
	if list["carol"].IdleMS > list["alice"].IdleMS {
		t.Errorf("carol, who just offered, is idle %d ms, more than alice's %d ms", list["carol"].IdleMS, list["alice"].IdleMS)
	}
}
