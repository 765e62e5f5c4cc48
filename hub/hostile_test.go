package hub_test

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// Each case talks to the hub the wrong way. The hub must close that
// connection (after an Error message, where a control stream exists) and
// go on serving the two well-behaved clients, whose chat must still flow.
func TestHostilePeersAreDroppedAndOthersCarryOn(t *testing.T) {
	// A deadline short enough for a quick test, long enough for TLS under
	// the race detector on a busy machine.
	h := hubtest.Start(t, hub.Config{Mux: mux.Config{HandshakeTimeout: 2 * time.Second, Linger: 200 * time.Millisecond}})
	a := hubtest.Dial(t, h.Addr, "a")
	b := hubtest.Dial(t, h.Addr, "b")

	hello := func(t *testing.T, ctrl net.Conn, version int) {
		if err := protocol.WriteMessage(ctrl, protocol.Hello{Version: version, Name: "mallory"}); err != nil {
			t.Fatal(err)
		}
	}
	welcomed := func(t *testing.T, ctrl net.Conn) {
		if err := sayHello(ctrl, "mallory"); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		raw      func(t *testing.T, conn net.Conn)                   // talks plain TCP
		ctrl     func(t *testing.T, s *yamux.Session, ctrl net.Conn) // talks on a yamux control stream
		wantCode string                                              // Error code expected on the control stream
	}{
		{name: "silent client", raw: func(t *testing.T, conn net.Conn) {}},
		{name: "one byte at a time", raw: func(t *testing.T, conn net.Conn) {
			drip(conn, 100*time.Millisecond, 40) // 4 s in all, well past the deadline
		}},
		{name: "random bytes", raw: func(t *testing.T, conn net.Conn) {
			b := make([]byte, 4096)
			rand.Read(b)
			conn.Write(b)
		}},
		{name: "HTTP request", raw: func(t *testing.T, conn net.Conn) {
			fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: hub\r\n\r\n")
		}},
		{name: "TLS with a fake proof of the key", raw: func(t *testing.T, conn net.Conn) {
			if err := fakeProof(conn); err != nil {
				t.Fatalf("TLS: %v", err)
			}
		}},
		{name: "wrong version", wantCode: protocol.CodeVersion, ctrl: func(t *testing.T, s *yamux.Session, ctrl net.Conn) {
			hello(t, ctrl, protocol.Version+1)
		}},
		{name: "chat before hello", wantCode: protocol.CodeBadMessage, ctrl: func(t *testing.T, s *yamux.Session, ctrl net.Conn) {
			protocol.WriteMessage(ctrl, protocol.Chat{Text: "hi"})
		}},
		{name: "an offer of a megabyte of empty entries", wantCode: protocol.CodeLimit, ctrl: func(t *testing.T, s *yamux.Session, ctrl net.Conn) {
			welcomed(t, ctrl)
			b := []byte(`{"type":"offer","transfer":"x","files":[{}`)
			for len(b) < protocol.MaxControlFrame-8 {
				b = append(b, ",{}"...)
			}
			protocol.WriteFrame(ctrl, append(b, "]}"...))
		}},
		{name: "4 GiB frame", wantCode: protocol.CodeBadMessage, ctrl: func(t *testing.T, s *yamux.Session, ctrl net.Conn) {
			welcomed(t, ctrl)
			ctrl.Write(binary.BigEndian.AppendUint32(nil, 0xffffffff))
		}},
		{name: "invalid UTF-8", wantCode: protocol.CodeBadMessage, ctrl: func(t *testing.T, s *yamux.Session, ctrl net.Conn) {
			welcomed(t, ctrl)
			protocol.WriteFrame(ctrl, []byte("{\"type\":\"chat\",\"text\":\"\xff\xfe\"}"))
		}},
		{name: "unknown type", wantCode: protocol.CodeBadMessage, ctrl: func(t *testing.T, s *yamux.Session, ctrl net.Conn) {
			welcomed(t, ctrl)
			protocol.WriteFrame(ctrl, []byte(`{"type":"launch"}`))
		}},
		{name: "oversized chat", wantCode: protocol.CodeLimit, ctrl: func(t *testing.T, s *yamux.Session, ctrl net.Conn) {
			welcomed(t, ctrl)
			protocol.WriteMessage(ctrl, protocol.Chat{Text: string(make([]byte, hub.MaxChatLen+1))})
		}},
		{name: "data stream for no transfer", wantCode: protocol.CodeBadMessage, ctrl: func(t *testing.T, s *yamux.Session, ctrl net.Conn) {
			welcomed(t, ctrl)
			st, err := s.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			protocol.WriteHeader(st, protocol.DataHeader{Transfer: "nope", File: 0})
		}},
		{name: "bytes after the trailer", wantCode: protocol.CodeBadMessage, ctrl: func(t *testing.T, s *yamux.Session, ctrl net.Conn) {
			welcomed(t, ctrl)
			protocol.WriteMessage(ctrl, protocol.Offer{Transfer: "t1", Files: []protocol.File{{Path: "empty.txt"}}})
			// Not the next message: the leave of an earlier case may come first.
			if m := answer(t, ctrl, "t1"); m.Type() != "accept" {
				t.Fatalf("want accept, got %v", m)
			}
			st, err := s.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			protocol.WriteHeader(st, protocol.DataHeader{Transfer: "t1", File: 0})
			// XXH3-128 of nothing, then bytes that have no place.
			protocol.WriteTrailer(st, protocol.Trailer{Hash: "xxh3-128:99aa06d3014798d86001c324468d497f"})
			st.Write([]byte("smuggled"))
		}},
		{name: "relayed data before the recipient answered", wantCode: protocol.CodeBadMessage, ctrl: func(t *testing.T, s *yamux.Session, ctrl net.Conn) {
			welcomed(t, ctrl)
			protocol.WriteMessage(ctrl, protocol.Offer{Transfer: "t1", To: "a", Files: []protocol.File{{Path: "x.txt", Size: 1}}})
			st, err := s.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			protocol.WriteHeader(st, protocol.DataHeader{Transfer: "t1", File: 0})
			st.Write([]byte("x"))
		}},
		{name: "a thousand streams of garbage", wantCode: protocol.CodeBadMessage, ctrl: func(t *testing.T, s *yamux.Session, ctrl net.Conn) {
			welcomed(t, ctrl)
			for range 1000 {
				st, err := s.OpenStream()
				if err != nil {
					return // the hub has already hung up
				}
				st.Write([]byte("garbage"))
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			if tt.raw != nil {
				conn := rawConn(t, h.Addr)
				tt.raw(t, conn)
				expectClosed(t, conn)
			} else {
				s, ctrl := rawSession(t, h.Addr)
				tt.ctrl(t, s, ctrl)
				expectError(t, ctrl, tt.wantCode)
				select {
				case <-s.CloseChan():
				case <-time.After(wait):
					t.Fatal("hub kept the session open")
				}
			}
			t.Logf("dropped after %s", time.Since(start).Round(time.Millisecond))
			text := fmt.Sprintf("still here %d", i)
			if err := a.Chat(text); err != nil {
				t.Fatal(err)
			}
			b.WaitFor(t, wait, "a's chat", func(ms []protocol.Message) bool {
				cs := hubtest.Chats(ms)
				return len(cs) > 0 && cs[len(cs)-1].Text == text
			})
		})
	}
	waitUntil(t, "the hub to list only the 2 well-behaved clients", func() bool { return len(h.Clients()) == 2 })
}

// expectClosed reads until the hub closes the connection.
func expectClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	expectClosedWithin(t, conn, wait)
}

// expectClosedWithin reads until the hub closes the connection, and fails
// the test if that takes longer than d.
func expectClosedWithin(t *testing.T, conn net.Conn, d time.Duration) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("hub kept the connection open for %s", d)
	}
}

// expectError reads control messages until an Error, which must carry
// code.
func expectError(t *testing.T, ctrl net.Conn, code string) {
	t.Helper()
	expectErrorText(t, ctrl, code, "")
}

// expectErrorText reads control messages until an Error, which must carry
// code and, unless text is "", text.
func expectErrorText(t *testing.T, ctrl net.Conn, code, text string) {
	t.Helper()
	ctrl.SetReadDeadline(time.Now().Add(wait))
	for {
		m, err := protocol.ReadMessage(ctrl)
		if err != nil {
			t.Fatalf("stream ended without an Error message: %v", err)
		}
		if e, ok := m.(protocol.Error); ok {
			if e.Code != code || text != "" && e.Text != text {
				t.Errorf("error %q %q, want %q %q", e.Code, e.Text, code, text)
			}
			t.Logf("hub said: %s", e.Text)
			return
		}
	}
}
