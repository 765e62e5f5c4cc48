package hub_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 20 * time.Second

// TestChatArrivesOnceInOrderWhileTransferRuns has three clients each send
// a numbered series of chat lines while one of them uploads a tree: every
// other client must hear every line exactly once, in the order it was sent.
func TestChatArrivesOnceInOrderWhileTransferRuns(t *testing.T) {
	h := hubtest.Start(t, noChatLimit(hub.Config{}))
	names := []string{"ann", "ben", "cat"}
	var cs []*hubtest.Client
	for _, n := range names {
		cs = append(cs, hubtest.Dial(t, h.Addr, n))
	}
	src := hubtest.Testdata(t, "../testdata")
	writeRandom(t, filepath.Join(src, "big.bin"), 24<<20)
	m, _, err := transfer.Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	const lines = 200
	uploaded := make(chan error, 1)
	go func() {
		rep, err := cs[0].Upload(context.Background(), m, transfer.SendOptions{})
		if err == nil && rep.Failed() > 0 {
			err = fmt.Errorf("%d files failed: %+v", rep.Failed(), rep.Files)
		}
		uploaded <- err
	}()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				if err := c.Chat(fmt.Sprintf("%s %d", c.Name(), i)); err != nil {
					t.Errorf("chat: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := <-uploaded; err != nil {
		t.Fatal(err)
	}
	hubtest.SameTree(t, src, filepath.Join(h.Dir, "testdata"))
	for _, c := range cs {
		heard := c.WaitFor(t, wait, "every chat line", func(ms []protocol.Message) bool {
			return len(hubtest.Chats(ms)) >= lines*(len(cs)-1)
		})
		next := map[string]int{}
		for _, ch := range hubtest.Chats(heard) {
			if ch.From == c.Name() {
				t.Errorf("%s heard its own line %q", c.Name(), ch.Text)
			}
			want := fmt.Sprintf("%s %d", ch.From, next[ch.From])
			if ch.Text != want {
				t.Fatalf("%s heard %q, want %q", c.Name(), ch.Text, want)
			}
			next[ch.From]++
		}
		for _, other := range names {
			if other != c.Name() && next[other] != lines {
				t.Errorf("%s heard %d lines from %s, want %d", c.Name(), next[other], other, lines)
			}
		}
	}
}

// noChatLimit lifts the chat rate limit out of the way of tests that send
// chat as fast as they can because they test ordering and queues, not
// rate: TestChatRateIsLimited covers the limit.
func noChatLimit(cfg hub.Config) hub.Config {
	cfg.ChatMessagesPerSecond, cfg.ChatBurst = 1<<30, 1<<30
	cfg.ChatBytesPerSecond, cfg.ChatBytesBurst = 1<<30, 1<<30
	return cfg
}

func writeRandom(t *testing.T, path string, n int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, n); err != nil {
		t.Fatal(err)
	}
}

func TestNamesAreUniqueWithSuffix(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	tests := []struct{ ask, get string }{
		{"alice", "alice"},
		{"alice", "alice-2"},
		{"ALICE", "ALICE-3"},
		{"", "guest"},
		{"bad name\x1b[2J", "bad_name__2J"},
		{strings.Repeat("x", 50), strings.Repeat("x", hub.MaxNameLen)},
	}
	for _, tt := range tests {
		if got := hubtest.Dial(t, h.Addr, tt.ask).Name(); got != tt.get {
			t.Errorf("asked for %q, got %q, want %q", tt.ask, got, tt.get)
		}
	}
}

func TestPresenceAndWho(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	a := hubtest.Dial(t, h.Addr, "a")
	b := hubtest.Dial(t, h.Addr, "b")
	a.WaitFor(t, wait, "b's join", hasPresence(protocol.Join, "b"))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	who, err := a.Who(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(who) != 2 || who[0].Name != "a" || who[1].Name != "b" || who[0].Addr == "" {
		t.Errorf("who = %+v, want a and b with addresses", who)
	}
	b.Close()
	a.WaitFor(t, wait, "b's leave", hasPresence(protocol.Leave, "b"))
	if got := h.Clients(); len(got) != 1 || got[0].Name != "a" {
		t.Errorf("hub lists %+v after b left, want only a", got)
	}
}

func hasPresence(event, name string) func([]protocol.Message) bool {
	return func(ms []protocol.Message) bool {
		for _, m := range ms {
			if p, ok := m.(protocol.Presence); ok && p.Event == event && p.Client.Name == name {
				return true
			}
		}
		return false
	}
}

// TestDisconnectMidTransferLeavesNoFile cuts the client's connection while
// a large file is on its way: the hub must end up with nothing under a
// final name, only the part of the file that was cut (kept for a resume),
// and no disk space promised.
func TestDisconnectMidTransferLeavesNoFile(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	c := hubtest.Dial(t, h.Addr, "quitter")
	// Two files sent one at a time: the cut comes in the middle of the
	// first, while the second has not started.
	src := t.TempDir()
	writeRandom(t, filepath.Join(src, "big.bin"), 64<<20)
	writeRandom(t, filepath.Join(src, "later.bin"), 1<<20)
	m, _, err := transfer.Scan(filepath.Join(src, "big.bin"), filepath.Join(src, "later.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var sent int64
	_, err = c.Upload(context.Background(), m, transfer.SendOptions{Parallel: 1, Observer: transfer.Observer{
		Wrote: func(n int) {
			sent += int64(n) // one file at a time, so one goroutine
			if sent > 8<<20 {
				once.Do(func() { c.Close() }) // while 56 MiB are still to come
			}
		},
	}})
	if err == nil {
		t.Fatal("upload succeeded after its connection was closed")
	}
	waitUntil(t, "the hub to drop the client", func() bool { return len(h.Clients()) == 0 })
	if n := h.Promised(); n != 0 {
		t.Errorf("%d bytes of disk space still promised to the cut transfer", n)
	}
	entries, err := os.ReadDir(h.Dir)
	if err != nil {
		t.Fatal(err)
	}
	// The hub's records of stored files and of names' owners may be
	// there too, even empty.
	entries = slices.DeleteFunc(entries, func(e os.DirEntry) bool {
		return e.Name() == transfer.RecordsFile || e.Name() == hub.OwnersFile || e.Name() == hub.UploadsFile
	})
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), ".muxfer-") || !strings.HasSuffix(entries[0].Name(), ".part") {
		t.Errorf("hub directory holds %v after an interrupted transfer, want one part", entries)
	}
}

// waitUntil polls cond until it holds or the test's patience runs out.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(wait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
