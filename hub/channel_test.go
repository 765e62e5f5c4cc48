package hub_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// caller is a client of a hub, speaking mux directly, with an identity.
type caller struct {
	s  *mux.Session
	id ed25519.PrivateKey
}

func (c caller) hexID() string { return hex.EncodeToString(c.id.Public().(ed25519.PublicKey)) }

func dialIdentity(t *testing.T, addr, name string) caller {
	t.Helper()
	return dialIdentityWith(t, addr, name, 0)
}

// dialIdentityWith is dialIdentity with the session's I/O timeout (0: the
// default).
func dialIdentityWith(t *testing.T, addr, name string, io time.Duration) caller {
	t.Helper()
	_, id, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cfg := hubtest.ClientConfig(addr)
	cfg.Identity, cfg.IOTimeout = id, io
	s, w, err := mux.Dial(ctx, addr, protocol.Hello{Name: name}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if w.Name != name {
		t.Fatalf("welcomed as %q, not %q", w.Name, name)
	}
	t.Cleanup(func() { s.Close() })
	return caller{s: s, id: id}
}

// openChannel asks the hub for a channel to h.To and reads the hub's
// reply.
func openChannel(t *testing.T, c caller, h protocol.DataHeader) (net.Conn, protocol.ChannelReply) {
	t.Helper()
	st, err := c.s.OpenData(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	ch := st.Channel()
	t.Cleanup(func() { ch.Close() })
	ch.SetReadDeadline(time.Now().Add(wait))
	r, err := protocol.ReadChannelReply(ch)
	if err != nil {
		t.Fatalf("channel reply: %v", err)
	}
	ch.SetReadDeadline(time.Time{})
	return ch, r
}

// answerChannel accepts the stream the hub opens to c for a channel.
func answerChannel(t *testing.T, c caller) (net.Conn, protocol.DataHeader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := c.s.AcceptData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := st.ReadHeader()
	if err != nil {
		t.Fatal(err)
	}
	ch := st.Channel()
	t.Cleanup(func() { ch.Close() })
	return ch, h
}

// TestChannelJoinsTwoClientsEndToEnd: the hub joins alice's channel to
// bob, tells each who is at the other end, and carries an end-to-end
// session between them, both ways, files included.
func TestChannelJoinsTwoClientsEndToEnd(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	alice, bob := dialIdentity(t, h.Addr, "alice"), dialIdentity(t, h.Addr, "bob")
	a, reply := openChannel(t, alice, protocol.DataHeader{To: "BOB", ToIdentity: bob.hexID()})
	if reply.Error != "" || reply.To != "bob" || reply.ToIdentity != bob.hexID() || reply.ToID == 0 {
		t.Fatalf("reply %+v", reply)
	}
	b, head := answerChannel(t, bob)
	if head.From != "alice" || head.FromIdentity != alice.hexID() || head.FromID == 0 || head.Transfer != "" {
		t.Fatalf("bob's header %+v", head)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	answered := make(chan *mux.Session, 1)
	go func() {
		s, err := mux.Answer(ctx, b, mux.Config{Identity: bob.id}, func(k ed25519.PublicKey) error {
			if hex.EncodeToString(k) != head.FromIdentity {
				return errors.New("not the caller the hub named")
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		answered <- s
	}()
	as, err := mux.Call(ctx, a, mux.Config{Identity: alice.id}, bob.id.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	bs := <-answered
	if bs == nil {
		t.FailNow()
	}
	defer bs.Close()
	body := strings.Repeat("end to end ", 300_000) // 3.3 MB: several windows
	sent := make(chan error, 1)
	go func() {
		st, err := as.OpenData(ctx, protocol.DataHeader{Transfer: "x", File: 0})
		if err == nil {
			_, err = io.WriteString(st, body)
			st.Close()
		}
		sent <- err
	}()
	st, err := bs.AcceptData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.ReadHeader()
	got, err := io.ReadAll(st)
	if err != nil || string(got) != body {
		t.Fatalf("bob read %d of %d bytes: %v", len(got), len(body), err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if err := bs.Send(protocol.Chat{Text: "got it"}); err != nil {
		t.Fatal(err)
	}
	if m, err := as.Recv(); err != nil || m.(protocol.Chat).Text != "got it" {
		t.Fatalf("alice heard %v, %v", m, err)
	}
	// When bob leaves, alice's end-to-end session ends.
	bob.s.Close()
	select {
	case <-as.Done():
	case <-time.After(wait):
		t.Fatal("alice's end-to-end session outlived bob's connection")
	}
}

func TestChannelRefusals(t *testing.T) {
	h := hubtest.Start(t, hub.Config{OffersPerSecond: 1000, OfferBurst: 1000})
	alice, bob := dialIdentity(t, h.Addr, "alice"), dialIdentity(t, h.Addr, "bob")
	for _, tc := range []struct {
		name     string
		header   protocol.DataHeader
		code     string
		text     string
		identity string
	}{
		{"nobody of that name", protocol.DataHeader{To: "carol"}, protocol.CodeAway, `nobody called "carol"`, ""},
		{"oneself", protocol.DataHeader{To: "Alice"}, "", "yourself", ""},
		{"another key than expected", protocol.DataHeader{To: "bob", ToIdentity: alice.hexID()}, protocol.CodeIdentity, "not the one you expect", bob.hexID()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r := openChannel(t, alice, tc.header)
			if r.Code != tc.code || !strings.Contains(r.Error, tc.text) || r.ToIdentity != tc.identity || r.To != "" {
				t.Fatalf("reply %+v, want code %q, %q, identity %q", r, tc.code, tc.text, tc.identity)
			}
		})
	}
	t.Run("too many open", func(t *testing.T) {
		for i := range hub.MaxChannels {
			if _, r := openChannel(t, alice, protocol.DataHeader{To: "bob"}); r.Error != "" {
				t.Fatalf("channel %d: %+v", i+1, r)
			}
		}
		_, r := openChannel(t, alice, protocol.DataHeader{To: "bob"})
		if r.Code != protocol.CodeBusy || !strings.Contains(r.Error, fmt.Sprint(hub.MaxChannels)) {
			t.Fatalf("channel %d: %+v", hub.MaxChannels+1, r)
		}
	})
	t.Run("too many open from one address", func(t *testing.T) {
		// alice holds MaxChannels; more callers from her address fill
		// its share, to another client.
		dialIdentity(t, h.Addr, "carol")
		opened := hub.MaxChannels
		for i := 0; opened < hub.MaxChannelsPerAddr; i++ {
			caller := dialIdentity(t, h.Addr, fmt.Sprintf("dave%d", i))
			for range min(hub.MaxChannels, hub.MaxChannelsPerAddr-opened) {
				if _, r := openChannel(t, caller, protocol.DataHeader{To: "carol"}); r.Error != "" {
					t.Fatalf("channel %d from the address: %+v", opened+1, r)
				}
				opened++
			}
		}
		_, r := openChannel(t, dialIdentity(t, h.Addr, "erin"), protocol.DataHeader{To: "carol"})
		if r.Code != protocol.CodeBusy || !strings.Contains(r.Error, "your address") {
			t.Fatalf("channel %d from the address: %+v", hub.MaxChannelsPerAddr+1, r)
		}
	})
	stillConnectedSession(t, alice)
}

func stillConnectedSession(t *testing.T, c caller) {
	t.Helper()
	select {
	case <-c.s.Done():
		t.Fatal("the hub ended the session")
	default:
	}
}

// TestChannelHeaderOutOfShapeEndsTheSession: only the hub says who is
// calling (from, from_id, from_identity), and a channel's header carries
// nothing of a file's; a client that writes either breaks the protocol.
func TestChannelHeaderOutOfShapeEndsTheSession(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	dialIdentity(t, h.Addr, "bob")
	for i, head := range []protocol.DataHeader{
		{To: "bob", From: "carol"},
		{To: "bob", FromID: 9},
		{To: "bob", FromIdentity: "8a88"},
		{To: "bob", Transfer: "t1"},
		{To: "bob", File: 2},
	} {
		t.Run(fmt.Sprintf("%+v", head), func(t *testing.T) {
			alice := dialIdentity(t, h.Addr, fmt.Sprintf("alice%d", i))
			st, err := alice.s.OpenData(context.Background(), head)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for {
				m, err := alice.s.Recv()
				if err != nil {
					t.Fatalf("session ended without an error message: %v", err)
				}
				if e, ok := m.(protocol.Error); ok {
					if e.Code != protocol.CodeBadMessage {
						t.Fatalf("error %+v", e)
					}
					return
				}
			}
		})
	}
}

// TestChannelMayStayQuietLongerThanTheHubsIOTimeout: the hub reads a
// channel without a deadline (reading its header set one, which must not
// stay), so two people who stop talking for a while keep their channel.
func TestChannelMayStayQuietLongerThanTheHubsIOTimeout(t *testing.T) {
	const io = 200 * time.Millisecond
	h := hubtest.Start(t, hub.Config{Mux: mux.Config{IOTimeout: io}})
	alice, bob := dialIdentityWith(t, h.Addr, "alice", io), dialIdentityWith(t, h.Addr, "bob", io)
	a, reply := openChannel(t, alice, protocol.DataHeader{To: "bob"})
	if reply.Error != "" {
		t.Fatalf("reply %+v", reply)
	}
	b, _ := answerChannel(t, bob)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	answered := make(chan *mux.Session, 1)
	go func() {
		s, err := mux.Answer(ctx, b, mux.Config{Identity: bob.id, IOTimeout: io}, nil)
		if err != nil {
			t.Error(err)
		}
		answered <- s
	}()
	as, err := mux.Call(ctx, a, mux.Config{Identity: alice.id, IOTimeout: io}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	bs := <-answered
	if bs == nil {
		t.FailNow()
	}
	defer bs.Close()
	select {
	case <-time.After(10 * io):
	case <-as.Done():
		t.Fatal("the channel ended while quiet")
	}
	if err := as.Send(protocol.Chat{Text: "still there?"}); err != nil {
		t.Fatal(err)
	}
	if m, err := bs.Recv(); err != nil || m.(protocol.Chat).Text != "still there?" {
		t.Fatalf("bob heard %v, %v", m, err)
	}
}

// TestChannelDeliversWhatEitherEndSentBeforeLeaving: an end that writes
// its last bytes and at once says bye and hangs up still has them
// delivered, then the end: the caller (a script's `chat` ending after a
// /msg) or the one called (recv --stdout, which exits after its one file,
// having sent its result).
func TestChannelDeliversWhatEitherEndSentBeforeLeaving(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	for _, leaver := range []string{"caller", "called"} {
		t.Run(leaver, func(t *testing.T) {
			for i := range 5 {
				alice := dialIdentity(t, h.Addr, fmt.Sprintf("alice-%s%d", leaver, i))
				bob := dialIdentity(t, h.Addr, fmt.Sprintf("bob-%s%d", leaver, i))
				a, reply := openChannel(t, alice, protocol.DataHeader{To: fmt.Sprintf("bob-%s%d", leaver, i)})
				if reply.Error != "" {
					t.Fatalf("reply %+v", reply)
				}
				b, _ := answerChannel(t, bob)
				from, to, gone := a, b, alice
				if leaver == "called" {
					from, to, gone = b, a, bob
				}
				last := strings.Repeat("last words ", 20_000)
				if _, err := io.WriteString(from, last); err != nil {
					t.Fatal(err)
				}
				gone.s.Send(protocol.Bye{})
				gone.s.Close()
				to.SetReadDeadline(time.Now().Add(wait))
				got, err := io.ReadAll(to)
				if string(got) != last {
					t.Fatalf("round %d: read %d of %d bytes (%v)", i, len(got), len(last), err)
				}
			}
		})
	}
}

// TestChannelCannotHoldALeavingClient: when alice leaves, bob's end of
// their channel has the I/O timeout to close; a bob that never does
// cannot keep alice registered (her name taken) for as long as he stays.
func TestChannelCannotHoldALeavingClient(t *testing.T) {
	const io = 300 * time.Millisecond
	h := hubtest.Start(t, hub.Config{Mux: mux.Config{IOTimeout: io}})
	alice, bob := dialIdentityWith(t, h.Addr, "alice", io), dialIdentityWith(t, h.Addr, "bob", io)
	if _, reply := openChannel(t, alice, protocol.DataHeader{To: "bob"}); reply.Error != "" {
		t.Fatalf("reply %+v", reply)
	}
	answerChannel(t, bob) // and never close it
	alice.s.Close()
	carol := hubtest.Dial(t, h.Addr, "carol")
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		list, err := carol.Who(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(list, func(c protocol.ClientInfo) bool { return c.Name == "alice" }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice is still listed %s after she left: %+v", wait, list)
		}
	}
}
