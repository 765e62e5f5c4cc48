package hub_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/transfer"
)

// streamFlood opens n data streams in each of sessions sessions from d,
// and never writes on them: the hub waits for each one's first header. It
// returns a counter of the streams that the hub reset, and a function
// that closes the sessions.
func streamFlood(t *testing.T, d *net.Dialer, addr string, sessions, n int) (resets func() int, stop func()) {
	t.Helper()
	var (
		mu       sync.Mutex
		reset    int
		wg       sync.WaitGroup
		sessList []*yamux.Session
	)
	stop = func() {
		for _, s := range sessList {
			s.Close()
		}
		wg.Wait()
	}
	t.Cleanup(stop)
	for i := range sessions {
		s, ctrl, err := dialSessionVia(d, addr)
		if err != nil {
			t.Fatal(err)
		}
		sessList = append(sessList, s)
		if err := sayHello(ctrl, "mallory"); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		for range n {
			st, err := s.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				var b [1]byte
				if _, err := st.Read(b[:]); errors.Is(err, yamux.ErrConnectionReset) {
					mu.Lock()
					reset++
					mu.Unlock()
				}
			})
		}
	}
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return reset
	}, stop
}

// Data streams that nobody reads hold the hub's memory (up to a receive
// window each): one address may have MaxStreamsPerAddr open at once, and
// all clients MaxStreamsTotal. A stream beyond is reset as it opens, before it
// holds anything; an honest client from another address goes on
// uploading; one whose streams are refused because the hub is full keeps
// trying, fails with a clear error if that lasts, and succeeds once streams
// are free again.
func TestDataStreamsAreBoundedPerAddressAndInAll(t *testing.T) {
	const perAddr, total = 20, 30
	h := hubtest.Start(t, hub.Config{MaxStreamsPerAddr: perAddr, MaxStreamsTotal: total})
	mallory := dialerFrom(t, "127.0.0.2")
	trudy := dialerFrom(t, "127.0.0.3")
	alice := hubtest.Dial(t, h.Addr, "alice")
	src := hubtest.Testdata(t, "../testdata")
	m, _, err := transfer.Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	// upload sends testdata and returns the first error of a file that
	// failed.
	upload := func(retry time.Duration) error {
		rep, err := alice.Upload(context.Background(), m, transfer.SendOptions{Parallel: 4, RefusedRetry: retry})
		if err != nil {
			return err
		}
		for _, f := range rep.Files {
			if !f.OK() {
				return fmt.Errorf("%s: %s", f.Path, f.Err)
			}
		}
		return nil
	}

	// Three sessions of fifteen streams from one address: twenty open,
	// the other twenty-five reset.
	malloryResets, _ := streamFlood(t, mallory, h.Addr, 3, 15)
	waitUntil(t, "mallory's streams over his share to be reset", func() bool {
		return malloryResets() == 3*15-perAddr && h.OpenStreams() == perAddr
	})
	if err := upload(0); err != nil {
		t.Fatalf("alice's upload beside mallory's streams: %v", err)
	}
	hubtest.SameTree(t, src, filepath.Join(h.Dir, "testdata"))

	// Another address takes the rest of the hub's streams. Alice's next
	// upload finds every stream refused: it keeps trying for as long as
	// she lets it (here 300 ms) and then fails, clearly; her session goes
	// on. The upload after that goes through as soon as streams are free
	// again.
	trudyResets, trudyStops := streamFlood(t, trudy, h.Addr, 1, 15)
	waitUntil(t, "the hub's streams to be taken", func() bool {
		return trudyResets() == 15-(total-perAddr) && h.OpenStreams() == total
	})
	refused := h.RefusedStreams()
	if err := upload(300 * time.Millisecond); err == nil || !strings.Contains(err.Error(), mux.ErrStreamRefused.Error()) {
		t.Fatalf("alice's upload on a hub whose streams are taken: %v, want %v", err, mux.ErrStreamRefused)
	}
	if h.RefusedStreams() == refused {
		t.Fatal("alice's upload failed without a stream refused")
	}
	if err := alice.Chat("still here"); err != nil {
		t.Fatalf("alice after a refused stream: %v", err)
	}
	refused = h.RefusedStreams()
	uploaded := make(chan error, 1)
	go func() { uploaded <- upload(0) }()
	waitUntil(t, "alice's upload to be refused a stream", func() bool { return h.RefusedStreams() > refused })
	trudyStops()
	if err := <-uploaded; err != nil { // verified by both ends
		t.Fatalf("alice's upload that waited for streams to be free: %v", err)
	}
	if n := h.OpenStreams(); n > perAddr+4 {
		t.Errorf("%d streams open after trudy left, want at most mallory's %d and alice's 4", n, perAddr)
	}
}

// streamsRSSBound is the most memory (peak resident set) the hub process
// may take while one address fills every data stream it may open with
// bytes the hub does not read: MaxStreamsPerAddr streams of at most 256
// KiB each (what yamux lets a stream send before it is read), 32 MiB, on
// top of what 32 idle sessions and an honest upload take.
const streamsRSSBound = 128 << 20

// One key holder, from one address, opens 32 sessions of 192 data streams
// each against a real hub (the muxfer binary): in each session 64 that
// say nothing (the hub waits for their first header and accepts no
// more), then 128 that each send the 256 KiB yamux lets a new stream send
// before anyone reads it. Before the streams were bounded per address the
// hub held every waiting stream's bytes: 32 sessions x 128 x 256 KiB, 1
// GiB. Now all but the address's MaxStreamsPerAddr are refused as they
// open, the hub's memory stays bounded, and an honest client from another
// address uploads and chats meanwhile.
func TestStreamsThatNobodyReadsAreBoundedPerAddress(t *testing.T) {
	sc := startScene(t)
	addr, mallory := sc.addr, sc.mallory

	const sessions, idle, full = hub.DefaultMaxClientsPerAddr, 64, 128
	var (
		readers sync.WaitGroup
		mu      sync.Mutex
		refused int
		all     []*yamux.Session
	)
	t.Cleanup(func() {
		for _, s := range all {
			s.Close()
		}
		readers.Wait()
	})
	chunk := make([]byte, 256<<10)
	for i := range sessions {
		s, ctrl, err := dialSessionVia(mallory, addr)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s)
		if err := sayHello(ctrl, fmt.Sprint("mallory", i)); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		for k := range idle + full {
			st, err := s.OpenStream()
			if err != nil {
				t.Fatalf("session %d, stream %d: %v", i, k, err)
			}
			if k < idle {
				continue
			}
			// Each stream sends its bytes and then reads until the hub
			// resets it, or the session ends with the test.
			readers.Go(func() {
				st.SetWriteDeadline(time.Now().Add(wait))
				st.Write(chunk)
				var b [1]byte
				if _, err := st.Read(b[:]); errors.Is(err, yamux.ErrConnectionReset) {
					mu.Lock()
					refused++
					mu.Unlock()
				}
			})
		}
	}
	// The first session's streams are the address's share: its 64 idle
	// ones and 64 of those that send. Every other one is refused.
	want := sessions*full - (hub.DefaultMaxStreamsPerAddr - idle)
	waitUntil(t, "mallory's streams beyond his address's share to be refused", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return refused == want
	})
	sc.uploaded(sc.upload())
	if err := sc.alice.Chat("alice 0"); err != nil {
		t.Fatal(err)
	}
	expectLines(t, sc.bob, "alice", 1)

	rss := peakRSS(t, sc.pid)
	t.Logf("mallory's streams that sent data: %d of %d refused; the hub's peak RSS %s", want, sessions*full, mib(rss))
	if rss > streamsRSSBound {
		t.Errorf("the hub's peak RSS was %s, want at most %s", mib(rss), mib(streamsRSSBound))
	}
}
