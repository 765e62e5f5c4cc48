package main

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
)

// TestChatCommandsNickMsgHelp drives chat with /help, /nick (refused,
// then accepted), /msg to a present and an absent name, and /who: the
// session outlives the refusals, only carol hears the direct message,
// and bob hears the rename.
func TestChatCommandsNickMsgHelp(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	bob := hubtest.Dial(t, h.Addr, "bob")
	carol := hubtest.Dial(t, h.Addr, "carol")
	script := "/help\n/nick bob\n/nick alicia\n/msg carol psst\n/msg nobody hi\n/msg\n/who\nafter\n"
	code, out, errs := runCmd(t, script, "chat", h.Addr, "--name", "alice", "--progress", "never")
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, errs, out)
	}
	for _, want := range []string{
		"/msg NICK TEXT", "/nick NAME", "/who", "/send NICK PATH...", "/upload PATH...", "/accept [N]", "/decline [N] [WHY]", "/offers [N]", "/help", "/quit",
		`! nick: name refused: name "bob" is taken`,
		"* you are now alicia",
		"[private to carol] <alicia> psst",
		`! no client named "nobody"`,
		"! usage: /msg NICK TEXT",
		"* 3 connected: bob (", "alicia (", ", idle ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	for _, c := range []*hubtest.Client{bob, carol} {
		// The direct message goes end to end, the public line through the
		// hub: carol waits for both, as they may come in either order.
		heard := c.WaitFor(t, 10*time.Second, "alicia's public line", func(ms []protocol.Message) bool {
			return slices.ContainsFunc(hubtest.Chats(ms), func(ch protocol.Chat) bool { return ch.Text == "after" }) &&
				(c != carol || slices.ContainsFunc(hubtest.Chats(ms), func(ch protocol.Chat) bool { return ch.Text == "psst" }))
		})
		var direct []protocol.Chat
		for _, ch := range hubtest.Chats(heard) {
			if ch.To != "" {
				direct = append(direct, ch)
			}
		}
		want := 0
		if c == carol {
			want = 1
		}
		if len(direct) != want || want == 1 && (direct[0].Text != "psst" || direct[0].From != "alicia" || direct[0].To != "carol") {
			t.Errorf("%s heard direct messages %+v, want %d", c.Name(), direct, want)
		}
		if !slices.ContainsFunc(heard, func(m protocol.Message) bool {
			p, ok := m.(protocol.Presence)
			return ok && p.Event == protocol.Rename && p.OldName == "alice" && p.Client.Name == "alicia"
		}) {
			t.Errorf("%s did not hear alice become alicia", c.Name())
		}
	}
}

// TestChatShowsPresenceAndPrivateLines checks how chat prints what others
// do: joins, leaves and renames alike, and a direct message marked as
// private.
func TestChatShowsPresenceAndPrivateLines(t *testing.T) {
	bob := protocol.ClientInfo{ID: 2, Name: "bob", Addr: "192.0.2.2:4000"}
	tests := []struct {
		m    protocol.Message
		want string
	}{
		{protocol.Presence{Event: protocol.Join, Client: bob}, "* bob joined"},
		{protocol.Presence{Event: protocol.Leave, Client: bob}, "* bob left"},
		{protocol.Presence{Event: protocol.Rename, Client: bob, OldName: "robert"}, "* robert is now bob"},
		{protocol.Chat{From: "bob", FromID: 2, Text: "hi all"}, "<bob> hi all"},
		{protocol.Chat{From: "bob", FromID: 2, To: "alice", Text: "psst"}, "[private] <bob> psst"},
		{protocol.Notice{Code: protocol.NoticeNoClient, Text: `no client named "dave"`}, `! no client named "dave"`},
		{protocol.Clients{Clients: []protocol.ClientInfo{{ID: 2, Name: "bob", Addr: "192.0.2.2:4000", IdleMS: 61_400, Transfers: 2}}},
			"* 1 connected: bob (192.0.2.2:4000, idle 1m1s, 2 transfers)"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		u, err := newUI(&out, &out, false, "never")
		if err != nil {
			t.Fatal(err)
		}
		u.message(tt.m)
		if got := strings.TrimSuffix(out.String(), "\n"); got != tt.want {
			t.Errorf("%#v printed %q, want %q", tt.m, got, tt.want)
		}
	}
}

// TestChatReconnectsUnderItsNewName: after /nick, a chat whose connection
// is cut comes back under the new name, not the one it started with.
func TestChatReconnectsUnderItsNewName(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	proxy := hubtest.StartProxy(t, h.Addr)
	bob := hubtest.Dial(t, h.Addr, "bob")
	c := startChat(t, h, proxy.Addr, "--name", "alice", "--reconnect-max", "200ms")
	// chat waits for the answer to /nick before it reads the next line,
	// so once bob hears that one, alice's client knows its new name.
	io.WriteString(c.typing, "/nick alicia\nrenamed\n")
	bob.WaitFor(t, 10*time.Second, "a line from alicia", func(ms []protocol.Message) bool {
		return slices.ContainsFunc(hubtest.Chats(ms), func(c protocol.Chat) bool { return c.Text == "renamed" && c.From == "alicia" })
	})
	proxy.Cut()
	io.WriteString(c.typing, "after the cut\n")
	bob.WaitFor(t, 20*time.Second, "the line typed after the cut, from alicia", func(ms []protocol.Message) bool {
		return slices.ContainsFunc(hubtest.Chats(ms), func(c protocol.Chat) bool { return c.Text == "after the cut" && c.From == "alicia" })
	})
	c.typing.Close()
	if code := <-c.done; code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, c.errb.String())
	}
	if !strings.Contains(c.out.String(), "as alicia") {
		t.Errorf("output does not show the reconnection as alicia:\n%s", c.out.String())
	}
}
