package hub_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
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

// crowd is the load of TestManyClientsChatAndUploadAtOnce: how many
// clients, and what each of them does.
//
// Lines are few because the hub multiplies them: every line goes to every
// other client, so 200 clients sending 3 lines each make 119,400
// deliveries, and each line a client sends costs some 8 s of CPU under the
// race detector. A client hears its share as a backlog, which its yamux
// pings and data streams wait behind; with 3 lines that backlog drains
// well inside the hub's 30 s timeouts, even with three runs of this test
// sharing two cores (with 4 lines they did not: sessions timed out).
//
// Three lines also keep the test clear of the hub's one licence to lose a
// message, a full queue (1,024 messages a client): even if the hub sent a
// client nothing until the end, its queue would hold every line (199 × 3),
// every join (199), and the answers to its upload (an Accept, and a
// Result per file).
type crowd struct {
	clients int
	lines   int // chat lines per client, sent back to back
	files   int // files per client, each of 1 to 64 KiB
}

// crowdTimeout bounds each phase of the test: the uploads, and then the
// wait for every line to arrive.
const crowdTimeout = 2 * time.Minute

// heapBound is the most heap the test may have in use at any time. The
// clients run in this process too, so this bounds the hub's memory and
// theirs together.
const heapBound = 512 << 20

// TestManyClientsChatAndUploadAtOnce connects 200 clients to one hub on
// loopback; each sends a few numbered chat lines while it uploads a few
// files. Every client must hear every other client's lines exactly once,
// in order, and never its own; every file must arrive and hash the same;
// nobody may be disconnected; the heap must stay under heapBound; and once
// the clients and the hub are closed no goroutine may be left.
func TestManyClientsChatAndUploadAtOnce(t *testing.T) {
	load := crowd{clients: 200, lines: 3, files: 3}
	if testing.Short() {
		load.clients = 40
	}
	ignore := goleak.IgnoreCurrent()
	mem := startSampling(50 * time.Millisecond)
	defer mem.stop() // also when the test fails half-way

	// The subtest's cleanups close every client and then the hub, so that
	// when it returns everything the load started should be gone.
	var clients []*hubtest.Client
	var loaded time.Time
	start := time.Now()
	ok := t.Run("load", func(t *testing.T) {
		clients = runCrowd(t, load)
		loaded = time.Now()
	})
	closed := time.Now()
	peak := mem.stop()
	waitForNoLeak(t, ignore)
	if ok {
		// Now that every client has closed, what each heard is final: a
		// line delivered twice cannot still be on its way.
		for _, c := range clients {
			checkHeard(t, c, clients, load.lines)
		}
		t.Logf("%d clients × (%d lines + %d files): %s until every line and file had arrived, %s to close them and the hub",
			load.clients, load.lines, load.files, loaded.Sub(start).Round(time.Millisecond), closed.Sub(loaded).Round(time.Millisecond))
	}
	clients = nil // and with them what they heard
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("peaks: %d goroutines, heap in use %s, obtained from the OS %s; heap in use %s before, %s after closing",
		peak.goroutines, mib(peak.heapInuse), mib(peak.sys), mib(peak.heapBefore), mib(after.HeapInuse))
	if peak.heapInuse > heapBound {
		t.Errorf("heap in use peaked at %s, want under %s", mib(peak.heapInuse), mib(heapBound))
	}
}

// runCrowd starts a hub, connects load.clients clients, and has each chat
// and upload at once. It returns when every line has arrived and every
// upload has been checked, leaving the clients connected.
func runCrowd(t *testing.T, load crowd) []*hubtest.Client {
	var log hubLog
	t.Cleanup(func() { // after the hub has closed: cleanups run last first
		if t.Failed() {
			for _, line := range log.notable() {
				t.Log("hub: " + line)
			}
		}
	})
	// Every client comes from 127.0.0.1.
	h := hubtest.Start(t, hub.Config{Logger: slog.New(slog.NewTextHandler(&log, nil)), MaxClientsPerAddr: load.clients})
	src := t.TempDir()
	start := time.Now()
	clients := make([]*hubtest.Client, load.clients)
	for i := range clients {
		// One at a time: the hub closes connections beyond its
		// MaxHandshakes (128) at once.
		clients[i] = hubtest.Dial(t, h.Addr, fmt.Sprintf("c%03d", i))
		writeFolder(t, filepath.Join(src, clients[i].Name()), load.files)
	}
	t.Logf("%d clients connected in %s", len(clients), time.Since(start).Round(time.Millisecond))

	start = time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), crowdTimeout)
	defer cancel()
	reports := make([]*transfer.Report, len(clients))
	var work sync.WaitGroup
	for i, c := range clients {
		work.Go(func() { reports[i] = upload(ctx, t, c, filepath.Join(src, c.Name())) })
		work.Go(func() { chat(t, c, load.lines) })
	}
	work.Wait()
	checkUploads(t, h, src, clients, reports)
	want := (len(clients) - 1) * load.lines
	deadline := time.Now().Add(crowdTimeout)
	for _, c := range clients {
		c.WaitFor(t, time.Until(deadline), fmt.Sprint(want, " chat lines"), func(ms []protocol.Message) bool {
			return len(hubtest.Chats(ms)) >= want
		})
	}
	t.Logf("every upload and line arrived in %s", time.Since(start).Round(time.Millisecond))
	for _, c := range clients {
		if err := c.Err(); err != nil {
			t.Errorf("%s was disconnected: %v", c.Name(), err)
		}
	}
	if got := h.Clients(); len(got) != len(clients) {
		t.Errorf("hub lists %d clients after the load, want all %d", len(got), len(clients))
	}
	return clients
}

// checkUploads checks that every client's files were delivered and
// verified, and that the hub holds each client's folder as it was sent.
func checkUploads(t *testing.T, h *hubtest.Hub, src string, clients []*hubtest.Client, reports []*transfer.Report) {
	t.Helper()
	var slowest time.Duration
	for i, c := range clients {
		if rep := reports[i]; rep != nil {
			for _, f := range rep.Files {
				if !f.OK() {
					t.Errorf("%s: %s %s: %s", c.Name(), f.Path, f.Status, f.Err)
				}
			}
			slowest = max(slowest, rep.Elapsed)
		}
		hubtest.SameTree(t, filepath.Join(src, c.Name()), filepath.Join(h.Dir, c.Name()))
	}
	t.Logf("the slowest upload took %s", slowest.Round(time.Millisecond))
}

// writeFolder fills a new folder at dir with n files of random sizes
// between 1 and 64 KiB and random contents.
func writeFolder(t *testing.T, dir string, n int) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		b := make([]byte, 1<<10+mrand.IntN(63<<10+1))
		rand.Read(b)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.bin", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// upload sends the folder at dir, which the hub stores under the folder's
// name, and returns the report; it reports a failed upload as a test
// error.
func upload(ctx context.Context, t *testing.T, c *hubtest.Client, dir string) *transfer.Report {
	m, _, err := transfer.Scan(dir)
	if err != nil {
		t.Errorf("%s: %v", c.Name(), err)
		return nil
	}
	rep, err := c.Upload(ctx, m, transfer.SendOptions{})
	if err != nil {
		t.Errorf("%s: upload: %v", c.Name(), err)
	}
	return rep
}

// chat sends c's numbered lines, "c007 0", "c007 1"…, as fast as the
// client's pacing lets it.
func chat(t *testing.T, c *hubtest.Client, lines int) {
	for i := range lines {
		if err := c.Chat(fmt.Sprint(c.Name(), " ", i)); err != nil {
			t.Errorf("%s cut off after %d lines: %v", c.Name(), i, err)
			return
		}
	}
}

// checkHeard checks that c heard, from every other client, its lines
// once each and in order, and nothing from itself.
func checkHeard(t *testing.T, c *hubtest.Client, clients []*hubtest.Client, lines int) {
	t.Helper()
	next := map[string]int{}
	for _, ch := range hubtest.Chats(c.Heard()) {
		if ch.From == c.Name() {
			t.Errorf("%s heard its own line %q", c.Name(), ch.Text)
			continue
		}
		if want := fmt.Sprint(ch.From, " ", next[ch.From]); ch.Text != want {
			t.Errorf("%s heard %q from %s, want %q", c.Name(), ch.Text, ch.From, want)
		}
		next[ch.From]++
	}
	for _, o := range clients {
		if o != c && next[o.Name()] != lines {
			t.Errorf("%s heard %d lines from %s, want %d", c.Name(), next[o.Name()], o.Name(), lines)
		}
	}
}

// waitForNoLeak waits until only the goroutines that ignore lists are
// left, and fails the test with the others if they are still there when
// the test's patience runs out.
func waitForNoLeak(t *testing.T, ignore goleak.Option) {
	t.Helper()
	deadline := time.Now().Add(wait)
	// Find itself retries for about half a second before it gives up.
	for time.Now().Before(deadline) && goleak.Find(ignore) != nil {
		t.Log("goroutines still ending; looking again")
	}
	goleak.VerifyNone(t, ignore)
}

// peaks are the highest figures a sampling saw.
type peaks struct {
	goroutines     int
	heapInuse, sys uint64
	heapBefore     uint64 // heap in use at the first sample
}

// sampling reads the process's memory and goroutine count periodically
// until stopped.
type sampling struct {
	quit chan struct{}
	done chan struct{}
	once sync.Once
	peak peaks // written by the sampling goroutine until done is closed
}

func startSampling(every time.Duration) *sampling {
	s := &sampling{quit: make(chan struct{}), done: make(chan struct{})}
	var first runtime.MemStats
	runtime.ReadMemStats(&first)
	s.peak.heapBefore = first.HeapInuse
	go func() {
		defer close(s.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			s.sample()
			select {
			case <-tick.C:
			case <-s.quit:
				s.sample()
				return
			}
		}
	}()
	return s
}

func (s *sampling) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.peak.heapInuse = max(s.peak.heapInuse, ms.HeapInuse)
	s.peak.sys = max(s.peak.sys, ms.Sys)
	s.peak.goroutines = max(s.peak.goroutines, runtime.NumGoroutine())
}

// stop ends the sampling, waits for its goroutine, and returns the peaks.
// It may be called more than once.
func (s *sampling) stop() peaks {
	s.once.Do(func() { close(s.quit) })
	<-s.done
	return s.peak
}

// hubLog keeps what the hub logs, for a failing test to show.
type hubLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *hubLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// notable returns the lines that are not routine: those of every level but
// Info, and clients that left for another reason than hanging up.
func (l *hubLog) notable() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.buf.String()) {
		routine := strings.Contains(line, "level=INFO") &&
			(!strings.Contains(line, `msg="client left"`) || strings.Contains(line, "reason=disconnected"))
		if !routine {
			out = append(out, strings.TrimSuffix(line, "\n"))
		}
	}
	return out
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
