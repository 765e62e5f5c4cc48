package mux_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

func newIdentity(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// channelPair returns the two ends of a channel: a data stream the client
// of a hub session opens, and the hub's end of it, each as Channel gives
// it. (A real hub splices two such streams; one is enough here.)
func channelPair(t testing.TB, cfg mux.Config) (caller, answerer net.Conn) {
	t.Helper()
	cli, hub := pair(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The stream is bound to OpenData's context for its life.
	st, err := cli.OpenData(context.Background(), protocol.DataHeader{To: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	hst, err := hub.AcceptData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := hst.ReadHeader(); err != nil || h.To != "bob" {
		t.Fatalf("header %+v, %v", h, err)
	}
	return st.Channel(), hst.Channel()
}

type peerEnds struct {
	caller, answerer *mux.Session
	callErr, ansErr  error
}

// callPeer runs Call and Answer on the two ends of a channel at once.
func callPeer(t testing.TB, cfg mux.Config, alice, bob ed25519.PrivateKey, want ed25519.PublicKey, admit func(ed25519.PublicKey) error) peerEnds {
	t.Helper()
	a, b := channelPair(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ans := make(chan peerEnds, 1)
	go func() {
		s, err := mux.Answer(ctx, b, mux.Config{Identity: bob}, admit)
		ans <- peerEnds{answerer: s, ansErr: err}
	}()
	s, err := mux.Call(ctx, a, mux.Config{Identity: alice}, want)
	e := <-ans
	e.caller, e.callErr = s, err
	t.Cleanup(func() {
		if e.caller != nil {
			e.caller.Close()
		}
		if e.answerer != nil {
			e.answerer.Close()
		}
	})
	return e
}

func TestPeerSessionOnAChannelCarriesMessagesAndFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  mux.Config
	}{
		{"hub link with TLS", mux.Config{}},
		{"hub link without TLS", mux.Config{InsecureNoTLS: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alice, bob := newIdentity(t), newIdentity(t)
			bobPub := bob.Public().(ed25519.PublicKey)
			var admitted ed25519.PublicKey
			e := callPeer(t, tc.cfg, alice, bob, bobPub, func(k ed25519.PublicKey) error { admitted = k; return nil })
			if e.callErr != nil || e.ansErr != nil {
				t.Fatalf("call: %v; answer: %v", e.callErr, e.ansErr)
			}
			if !e.caller.Identity().Equal(bobPub) || !e.answerer.Identity().Equal(alice.Public()) || !admitted.Equal(alice.Public()) {
				t.Fatal("each end must know the other's identity")
			}
			if err := e.caller.Send(protocol.Chat{Text: "hi bob"}); err != nil {
				t.Fatal(err)
			}
			if m, err := e.answerer.Recv(); err != nil || m.(protocol.Chat).Text != "hi bob" {
				t.Fatalf("answerer got %v, %v", m, err)
			}
			if err := e.answerer.Send(protocol.Chat{Text: "hi alice"}); err != nil {
				t.Fatal(err)
			}
			if m, err := e.caller.Recv(); err != nil || m.(protocol.Chat).Text != "hi alice" {
				t.Fatalf("caller got %v, %v", m, err)
			}
			// A data stream either way.
			ctx := context.Background()
			body := strings.Repeat("muxfer ", 100_000)
			errc := make(chan error, 1)
			go func() {
				st, err := e.caller.OpenData(ctx, protocol.DataHeader{Transfer: "t1", File: 0})
				if err == nil {
					_, err = io.WriteString(st, body)
					st.Close()
				}
				errc <- err
			}()
			st, err := e.answerer.AcceptData(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if h, err := st.ReadHeader(); err != nil || h.Transfer != "t1" {
				t.Fatalf("header %+v, %v", h, err)
			}
			got, err := io.ReadAll(st)
			if err != nil || string(got) != body {
				t.Fatalf("read %d bytes of %d, %v", len(got), len(body), err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPeerSessionRefusesAnotherIdentity(t *testing.T) {
	alice, bob, mallory := newIdentity(t), newIdentity(t), newIdentity(t)
	t.Run("the caller expects another key", func(t *testing.T) {
		e := callPeer(t, mux.Config{}, alice, mallory, bob.Public().(ed25519.PublicKey), nil)
		var pk *mux.PeerKeyError
		if !errors.As(e.callErr, &pk) || !pk.Got.Equal(mallory.Public()) || !pk.Want.Equal(bob.Public()) {
			t.Fatalf("call: %v, want a PeerKeyError naming both keys", e.callErr)
		}
		if e.ansErr == nil {
			t.Fatal("answer succeeded with a caller that hung up")
		}
	})
	t.Run("the answerer does not admit the caller", func(t *testing.T) {
		no := errors.New("alice's key is not the one pinned")
		e := callPeer(t, mux.Config{}, mallory, bob, nil, func(ed25519.PublicKey) error { return no })
		var perr *protocol.Error
		if !errors.As(e.callErr, &perr) || perr.Code != protocol.CodeIdentity || !strings.Contains(perr.Text, "pinned") {
			t.Fatalf("call: %v, want the answerer's refusal in words", e.callErr)
		}
		if !errors.Is(e.ansErr, no) {
			t.Fatalf("answer: %v", e.ansErr)
		}
	})
	t.Run("any key, when none is expected", func(t *testing.T) {
		e := callPeer(t, mux.Config{}, alice, mallory, nil, nil)
		if e.callErr != nil {
			t.Fatal(e.callErr)
		}
		if !e.caller.Identity().Equal(mallory.Public()) {
			t.Fatalf("identity %x", e.caller.Identity())
		}
	})
}

func TestChannelMayBeQuietLongerThanTheIOTimeout(t *testing.T) {
	const io = 100 * time.Millisecond
	alice, bob := newIdentity(t), newIdentity(t)
	a, b := channelPair(t, mux.Config{IOTimeout: io})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ans := make(chan *mux.Session, 1)
	go func() {
		s, err := mux.Answer(ctx, b, mux.Config{Identity: bob, IOTimeout: io}, nil)
		if err != nil {
			t.Error(err)
		}
		ans <- s
	}()
	caller, err := mux.Call(ctx, a, mux.Config{Identity: alice, IOTimeout: io}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	answerer := <-ans
	if answerer == nil {
		t.FailNow()
	}
	defer answerer.Close()
	// Quiet for several I/O timeouts: the hub link's and the channel's
	// reads wait, as a chat session's do.
	select {
	case <-time.After(5 * io):
	case <-caller.Done():
		t.Fatal("the end-to-end session ended while quiet")
	}
	if err := caller.Send(protocol.Chat{Text: "still there?"}); err != nil {
		t.Fatal(err)
	}
	if m, err := answerer.Recv(); err != nil || m.(protocol.Chat).Text != "still there?" {
		t.Fatalf("got %v, %v", m, err)
	}
}
