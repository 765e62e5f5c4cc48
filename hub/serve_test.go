package hub_test

import (
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/hashicorp/yamux"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
)

// flakyListener fails its first Accepts with EMFILE, as a listener does
// when the process is out of file descriptors.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestServeSurvivesRunningOutOfFiles(t *testing.T) {
	h, err := hub.New(hub.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln}
	fl.fails.Store(3)
	served := make(chan error, 1)
	go func() { served <- h.Serve(fl) }()
	c := hubtest.Dial(t, ln.Addr().String(), "patient")
	if c.Name() != "patient" {
		t.Errorf("name %q", c.Name())
	}
	c.Close()
	h.Close()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestFloodDoesNotDisconnectOthers: a client that never reads its control
// stream misses broadcasts, but neither the talker nor anyone else is
// disconnected, and a reading client hears every line.
func TestFloodDoesNotDisconnectOthers(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	talker := hubtest.Dial(t, h.Addr, "talker")
	listener := hubtest.Dial(t, h.Addr, "listener")
	deaf := dialDeaf(t, h.Addr)
	defer deaf.Close()
	// 3,000 lines of 1 KiB: more than the deaf client's yamux window
	// (256 KiB) and its queue at the hub (1,024 messages) together.
	const lines = 3000
	pad := strings.Repeat(".", 1024)
	for i := range lines {
		if err := talker.Chat(strconv.Itoa(i) + pad); err != nil {
			t.Fatalf("talker cut off after %d lines: %v", i, err)
		}
	}
	listener.WaitFor(t, wait, "every line", func(ms []protocol.Message) bool { return len(hubtest.Chats(ms)) == lines })
	if got := len(h.Clients()); got != 3 {
		t.Errorf("hub lists %d clients, want 3 (nobody disconnected)", got)
	}
}

// dialDeaf completes a handshake by hand and then never reads again.
func dialDeaf(t *testing.T, addr string) *yamux.Session {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	s, err := yamux.Client(conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := s.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	if err := protocol.WriteMessage(ctrl, protocol.Hello{Version: protocol.Version, Name: "deaf"}); err != nil {
		t.Fatal(err)
	}
	if m, err := protocol.ReadMessage(ctrl); err != nil || m.Type() != "welcome" {
		t.Fatalf("want welcome, got %v, %v", m, err)
	}
	return s
}
