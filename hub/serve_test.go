package hub_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
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
	key := mux.NewKey()
	h, err := hub.New(hub.Config{Dir: t.TempDir(), Mux: mux.Config{Key: key}})
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
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Dial(ctx, ln.Addr().String(), client.Config{Name: "patient", Mux: mux.Config{Key: key}})
	if err != nil {
		t.Fatal(err)
	}
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
	h := hubtest.Start(t, noChatLimit(hub.Config{}))
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
		// Let the listener catch up now and then: its queue at the hub
		// (1,024) bounds how far a reading client may fall behind, and a
		// busy machine can slow its reading down that much.
		if n := i + 1; n%500 == 0 {
			listener.WaitFor(t, wait, "the lines so far", func(ms []protocol.Message) bool { return len(hubtest.Chats(ms)) >= n })
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
	s, ctrl := rawSession(t, addr)
	if err := sayHello(ctrl, "deaf"); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRefusalIsNotQueuedBehindChat: a client that has not read for a while
// has chat queued at the hub. When it then breaks a rule, its Error comes
// after at most what its yamux window already held, not after the whole
// queue, and the hub spends nothing more on chat for it.
func TestRefusalIsNotQueuedBehindChat(t *testing.T) {
	h := hubtest.Start(t, noChatLimit(hub.Config{Mux: mux.Config{Linger: 200 * time.Millisecond}}))
	_, ctrl := rawSession(t, h.Addr)
	if err := sayHello(ctrl, "sleeper"); err != nil {
		t.Fatal(err)
	}
	talker := hubtest.Dial(t, h.Addr, "talker")
	listener := hubtest.Dial(t, h.Addr, "listener")
	// 1,000 lines of 1 KiB: four times the sleeper's window (256 KiB), and
	// within its queue (1,024).
	const lines = 1000
	pad := strings.Repeat(".", 1024)
	for i := range lines {
		if err := talker.Chat(strconv.Itoa(i) + pad); err != nil {
			t.Fatal(err)
		}
	}
	// Each line is queued for every client at once: once the listener has
	// them all, so has the sleeper's queue.
	listener.WaitFor(t, wait, "every line", func(ms []protocol.Message) bool { return len(hubtest.Chats(ms)) == lines })
	if err := protocol.WriteFrame(ctrl, []byte(`{"type":"launch"}`)); err != nil {
		t.Fatal(err)
	}
	ctrl.SetReadDeadline(time.Now().Add(wait))
	chats := 0
	for {
		m, err := protocol.ReadMessage(ctrl)
		if err != nil {
			t.Fatalf("no Error after %d chat lines: %v", chats, err)
		}
		if _, ok := m.(protocol.Error); ok {
			break
		}
		if _, ok := m.(protocol.Chat); ok {
			chats++
		}
	}
	t.Logf("%d chat lines before the Error", chats)
	if chats >= lines/2 {
		t.Errorf("%d of the %d queued chat lines came before the Error, want only those in flight", chats, lines)
	}
}

// A hub whose folder has less free space than its reserve would refuse
// every upload: it says so as it starts, at WARN, and not when the
// reserve fits.
func TestHubWarnsAtStartWhenTheReserveDoesNotFit(t *testing.T) {
	const warning = "the folder has less free space than the reserve: every upload will be refused until there is more (see --reserve)"
	for _, tt := range []struct {
		name    string
		reserve int64
		warns   bool
	}{
		{"a reserve larger than any disk", 1 << 62, true},
		{"no reserve", -1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs := &logRecorder{}
			h, err := hub.New(hub.Config{Dir: t.TempDir(), Logger: slog.New(logs), Offers: transfer.Limits{Reserve: tt.reserve}})
			if err != nil {
				t.Fatal(err)
			}
			h.Close()
			if got := logs.count(warning) == 1; got != tt.warns {
				t.Errorf("warned: %v, want %v", got, tt.warns)
			}
		})
	}
}
