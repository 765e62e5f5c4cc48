package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// TestHubSeesNoneOfWhatPeopleSendEachOther: with TLS off between the hub
// and both clients, every byte the hub receives and sends is recorded on
// the way (what the hub itself sees, after its own TLS). A file sent from
// alice to bob and a direct message arrive, and the recording holds none
// of the file's bytes, nor its name, nor a word of the message; it holds
// the clients' names, which the hub must see.
func TestHubSeesNoneOfWhatPeopleSendEachOther(t *testing.T) {
	h := hubtest.Start(t, hub.Config{Mux: mux.Config{InsecureNoTLS: true}})
	p := hubtest.StartProxy(t, h.Addr)
	p.Record()
	inbox := filepath.Join(t.TempDir(), "inbox")
	bob := hubtest.DialConfig(t, p.Addr, client.Config{Name: "bob", Identity: client.NewIdentity(), Inbox: inbox,
		OnOffer: func(protocol.Offer) client.Decision { return client.Accept }})
	alice := hubtest.DialConfig(t, p.Addr, client.Config{Name: "alice", Identity: client.NewIdentity()})

	dir := t.TempDir()
	secret := make([]byte, 2<<20)
	rand.Read(secret)
	copy(secret[1000:], "the password is swordfish")
	src := filepath.Join(dir, "merger-plans-q3.bin")
	if err := os.WriteFile(src, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := alice.Upload(ctx, scan(t, src), transfer.SendOptions{To: "bob"})
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("send: %v, %+v", err, rep.Files)
	}
	if got, err := os.ReadFile(filepath.Join(inbox, "merger-plans-q3.bin")); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("bob's copy: %v", err)
	}
	const dm = "meet me by the old mill at midnight"
	if err := alice.Message("bob", dm); err != nil {
		t.Fatal(err)
	}
	bob.WaitFor(t, 10*time.Second, "alice's direct message", func(ms []protocol.Message) bool {
		for _, m := range ms {
			if c, ok := m.(protocol.Chat); ok && c.Text == dm && c.From == "alice" && c.To == "bob" {
				return true
			}
		}
		return false
	})

	rec := p.Recorded()
	seen := func(b []byte) bool {
		for _, r := range rec {
			if bytes.Contains(r, b) {
				return true
			}
		}
		return false
	}
	if !seen([]byte(`"name":"alice"`)) || !seen([]byte(`"name":"bob"`)) {
		t.Fatal("the recording does not show the hellos: it records nothing useful")
	}
	for _, word := range []string{"swordfish", "merger-plans", "old mill", "midnight"} {
		if seen([]byte(word)) {
			t.Errorf("the hub saw %q", word)
		}
	}
	for off := 0; off+32 <= len(secret); off += 4096 {
		if seen(secret[off : off+32]) {
			t.Fatalf("the hub saw the file's bytes at %d", off)
		}
	}
}

// TestClientTakesNothingThroughTheHubsOldRelay: an offer or a direct
// message the hub relays could have been written by the hub: the client
// rejects the offer and drops the message, whoever it claims to be from.
func TestClientTakesNothingThroughTheHubsOldRelay(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	inbox := filepath.Join(t.TempDir(), "inbox")
	bob := hubtest.DialConfig(t, h.Addr, client.Config{Name: "bob", Inbox: inbox,
		OnOffer: func(protocol.Offer) client.Decision { return client.Accept }})
	mallory := hubtest.DialRelay(t, h.Addr, hubtest.RelayConfig{Name: "mallory"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := mallory.Upload(ctx, scan(t, hubtest.Testdata(t, "../testdata")), transfer.SendOptions{To: "bob"})
	if err == nil || !strings.Contains(err.Error(), "end to end only") || rep.Failed() == 0 {
		t.Fatalf("relayed upload: %v, want refused", err)
	}
	if entries, _ := os.ReadDir(inbox); len(entries) > 0 {
		t.Fatalf("bob stored %v", entries)
	}
	if err := mallory.Say(protocol.Chat{To: "bob", Text: "it is me, alice"}); err != nil {
		t.Fatal(err)
	}
	if err := mallory.Say(protocol.Chat{Text: "hi all"}); err != nil {
		t.Fatal(err)
	}
	heard := bob.WaitFor(t, 10*time.Second, "mallory's chat to everyone", func(ms []protocol.Message) bool {
		chats := hubtest.Chats(ms)
		return len(chats) > 0 && chats[len(chats)-1].Text == "hi all"
	})
	for _, m := range heard {
		if c, ok := m.(protocol.Chat); ok && c.To != "" {
			t.Errorf("bob heard a direct message through the hub: %+v", c)
		}
	}
}

// rawCaller opens an end-to-end session to the client called to, as a
// client written from the protocol's README would: for attacks that
// muxfer's own client would never make.
func rawCaller(t *testing.T, addr, name, to string) *mux.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := hubtest.ClientConfig(addr)
	cfg.Identity = client.NewIdentity().PrivateKey()
	s, _, err := mux.Dial(ctx, addr, protocol.Hello{Name: name}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	st, err := s.OpenData(context.Background(), protocol.DataHeader{To: to})
	if err != nil {
		t.Fatal(err)
	}
	ch := st.Channel()
	if r, err := protocol.ReadChannelReply(ch); err != nil || r.Error != "" {
		t.Fatalf("channel reply %+v, %v", r, err)
	}
	e2e, err := mux.Call(ctx, ch, mux.Config{Identity: cfg.Identity}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e2e.Close() })
	return e2e
}

// TestRecipientChecksWhatComesOnALink: what a hostile caller sends on a
// link is checked as a hub checks its uploads, before anyone is asked:
// an unsafe path is refused and never shown, a stream for nothing
// accepted ends the link, and so do direct messages past the rate.
func TestRecipientChecksWhatComesOnALink(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	asked := make(chan protocol.Offer, 8)
	inbox := filepath.Join(t.TempDir(), "inbox")
	hubtest.DialConfig(t, h.Addr, client.Config{Name: "bob", Identity: client.NewIdentity(), Inbox: inbox,
		OnOffer: func(o protocol.Offer) client.Decision { asked <- o; return client.Ask }})
	t.Run("an unsafe path", func(t *testing.T) {
		e := rawCaller(t, h.Addr, "mallory", "bob")
		e.Send(protocol.Offer{Transfer: "t1", Files: []protocol.File{{Path: "../escape.txt", Size: 5, Mode: 0o644}}})
		m, err := e.Recv()
		if rj, ok := m.(protocol.Reject); err != nil || !ok || rj.Transfer != "t1" || !strings.Contains(rj.Reason, "..") {
			t.Fatalf("answer %+v, %v; want a reject naming the path", m, err)
		}
		select {
		case o := <-asked:
			t.Fatalf("bob was asked about %+v", o)
		default:
		}
	})
	t.Run("a stream for nothing", func(t *testing.T) {
		e := rawCaller(t, h.Addr, "mallory2", "bob")
		st, err := e.OpenData(context.Background(), protocol.DataHeader{Transfer: "t9"})
		if err != nil {
			t.Fatal(err)
		}
		st.Write([]byte("hello"))
		m, err := e.Recv()
		if perr, ok := m.(protocol.Error); err != nil || !ok || perr.Code != protocol.CodeBadMessage {
			t.Fatalf("answer %+v, %v; want error bad_message", m, err)
		}
	})
	t.Run("direct messages too fast", func(t *testing.T) {
		e := rawCaller(t, h.Addr, "mallory3", "bob")
		for range 1000 {
			if err := e.Send(protocol.Chat{Text: "spam"}); err != nil {
				break
			}
		}
		for {
			m, err := e.Recv()
			if err != nil {
				t.Fatalf("the link ended without an error message: %v", err)
			}
			if perr, ok := m.(protocol.Error); ok {
				if perr.Code != protocol.CodeLimit {
					t.Fatalf("error %+v, want limit", perr)
				}
				return
			}
		}
	})
	if entries, _ := os.ReadDir(inbox); len(entries) > 0 {
		t.Errorf("bob's inbox holds %v", entries)
	}
}
