package hub_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// TestChatRateIsLimited has a client send one kind of message as fast as
// it can: the hub must tell it which rate it broke, disconnect it, and
// keep the bystander.
func TestChatRateIsLimited(t *testing.T) {
	// Each case lifts the limit it does not test, so that only one can trip.
	noMessageLimit := hub.Config{ChatMessagesPerSecond: 1 << 30, ChatBurst: 1 << 30}
	noByteLimit := hub.Config{ChatBytesPerSecond: 1 << 30, ChatBytesBurst: 1 << 30}
	tests := []struct {
		name string
		cfg  hub.Config
		msg  protocol.Message
		want string
	}{
		{"short lines", noByteLimit, protocol.Chat{Text: "spam"}, "chat rate over 20 messages/s"},
		{"long lines", noMessageLimit, protocol.Chat{Text: strings.Repeat("x", hub.MaxChatLen)}, "chat rate over 262144 bytes/s"},
		{"who", hub.Config{}, protocol.Who{}, "who rate over 20 messages/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Mux = mux.Config{Linger: 200 * time.Millisecond}
			h := hubtest.Start(t, tt.cfg)
			hubtest.Dial(t, h.Addr, "bystander")
			s, ctrl := rawSession(t, h.Addr)
			if err := sayHello(ctrl, "flooder"); err != nil {
				t.Fatal(err)
			}
			// Bursts of 100 messages or 1 MiB, then 20 a second or 256 KiB:
			// passing 1,000 would take this loop over 40 s.
			for range 1000 {
				ctrl.SetWriteDeadline(time.Now().Add(wait))
				if err := protocol.WriteMessage(ctrl, tt.msg); err != nil {
					break // the hub has hung up
				}
			}
			expectErrorText(t, ctrl, protocol.CodeLimit, tt.want)
			select {
			case <-s.CloseChan():
			case <-time.After(wait):
				t.Fatal("hub kept the session open")
			}
			waitUntil(t, "the hub to list only the bystander", func() bool {
				c := h.Clients()
				return len(c) == 1 && c[0].Name == "bystander"
			})
		})
	}
}

// TestChatWithinTheRateArrives: a burst up to the limits, however fast, is
// normal chat.
func TestChatWithinTheRateArrives(t *testing.T) {
	tests := []struct {
		name  string
		lines int
		size  int
	}{
		{"burst of short lines", hub.DefaultChatBurst, 10},
		{"burst of long lines", hub.DefaultChatBytesBurst / hub.MaxChatLen, hub.MaxChatLen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hubtest.Start(t, hub.Config{})
			a := hubtest.Dial(t, h.Addr, "a")
			b := hubtest.Dial(t, h.Addr, "b")
			for i := range tt.lines {
				line := fmt.Sprintf("%0*d", tt.size, i)
				if err := a.Chat(line); err != nil {
					t.Fatalf("line %d: %v", i, err)
				}
			}
			// The hub relays a client's lines in order and refuses before
			// relaying: b hearing the last line means none was refused.
			b.WaitFor(t, wait, "every line", func(ms []protocol.Message) bool { return len(hubtest.Chats(ms)) == tt.lines })
			if got := len(h.Clients()); got != 2 {
				t.Errorf("hub lists %d clients, want 2", got)
			}
		})
	}
}

// TestFolderOffersAreBounded sends one session's offers in turn. Folders
// an offer lists, and the parents of its entries, count against a limit
// per offer and one per session, however often the same folder is sent;
// an offer over either is rejected and creates nothing.
func TestFolderOffersAreBounded(t *testing.T) {
	h := hubtest.Start(t, hub.Config{MaxOfferFolders: 10, MaxSessionFolders: 25})
	_, ctrl := rawSession(t, h.Addr)
	if err := sayHello(ctrl, "mkdir"); err != nil {
		t.Fatal(err)
	}
	dirs := func(prefix string, n int) []protocol.File {
		var fs []protocol.File
		for i := range n {
			fs = append(fs, protocol.File{Path: fmt.Sprint(prefix, i), Dir: true, Mode: 0o755})
		}
		return fs
	}
	steps := []struct {
		name   string
		files  []protocol.File
		reject string // "" for accept
	}{
		{"ten folders", dirs("a", 10), ""},
		{"eleven folders", dirs("b", 11), "offer has more than 10 folders"},
		{"a file's parents", []protocol.File{{Path: "c/d/e/f.txt", Size: 1, Mode: 0o644}}, ""}, // 13
		{"the ten folders again", dirs("a", 10), ""},                                           // 23
		{"three more", dirs("z", 3), "more than 25 folders in one session"},
		{"two more", dirs("z", 2), ""}, // 25
		{"one more", dirs("y", 1), "more than 25 folders in one session"},
	}
	for i, s := range steps {
		id := fmt.Sprint("t", i)
		if err := protocol.WriteMessage(ctrl, protocol.Offer{Transfer: id, Files: s.files}); err != nil {
			t.Fatal(err)
		}
		switch m := answer(t, ctrl, id).(type) {
		case protocol.Accept:
			if s.reject != "" {
				t.Errorf("%s: accepted, want rejected with %q", s.name, s.reject)
			}
		case protocol.Reject:
			if m.Reason != s.reject {
				t.Errorf("%s: rejected with %q, want %q", s.name, m.Reason, s.reject)
			}
		}
	}
	for _, p := range []string{"b0", "z2", "y0"} {
		if _, err := os.Stat(filepath.Join(h.Dir, p)); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it not to exist: its offer was rejected", p, err)
		}
	}
}

// answer reads control messages until the Accept or Reject of transfer id.
func answer(t *testing.T, ctrl net.Conn, id string) protocol.Message {
	t.Helper()
	ctrl.SetReadDeadline(time.Now().Add(wait))
	for {
		m, err := protocol.ReadMessage(ctrl)
		if err != nil {
			t.Fatalf("waiting for the answer to %s: %v", id, err)
		}
		switch a := m.(type) {
		case protocol.Accept:
			if a.Transfer == id {
				return m
			}
		case protocol.Reject:
			if a.Transfer == id {
				return m
			}
		}
	}
}
