package client_test

import (
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/transfer"
)

// deliverRun is one Deliver through a proxy that a test case breaks on
// purpose, and what the run has seen so far.
type deliverRun struct {
	hub    *hubtest.Hub // the hub the proxy forwards to now
	proxy  *hubtest.Proxy
	link   mux.Config   // timeouts of both ends
	sent   atomic.Int64 // bytes Observer.Wrote reported
	losses atomic.Int32 // connections lost, as OnLost reported them
	once   sync.Once    // for a case's one fault

	mark    int64 // marked is closed once this many bytes are sent; 0: never
	marked  chan struct{}
	marking sync.Once
}

// deliverCase breaks the link of a Deliver in one way. Every hook may be
// nil.
type deliverCase struct {
	name     string
	link     mux.Config // KeepAlive and IOTimeout of the hub and the client
	parallel int
	start    func(r *deliverRun)               // before Deliver
	wrote    func(r *deliverRun, sent int64)   // after each Observer.Wrote, with the bytes sent so far
	lost     func(r *deliverRun, n int)        // on the nth loss, from OnLost
	during   func(t *testing.T, r *deliverRun) // on the test goroutine, while Deliver runs
	losses   [2]int                            // at least, at most
	orphans  int                               // sessions the hub keeps after Deliver (see Proxy.Orphan)
	resumes  bool                              // some file must continue from its part
}

// fastDeath makes both ends notice a link that carries nothing within
// about two seconds (KeepAlive plus IOTimeout), yet leaves a loaded
// machine running under -race room to make progress (with one second, a
// full `go test -race ./...` on two cores once took a second loss for a
// link that was only slow).
var fastDeath = mux.Config{KeepAlive: 100 * time.Millisecond, IOTimeout: 2 * time.Second}

// TestDeliverFinishesThroughBrokenLinks: whatever happens to the link
// mid-transfer (a cut, two cuts, a reset, a stall, a slow link, the hub
// restarting), Deliver reconnects and ends with every file delivered
// once, under its own name, with the same bytes, no part left behind,
// and the files that were in flight continued rather than sent again.
func TestDeliverFinishesThroughBrokenLinks(t *testing.T) {
	const midFile = 3 << 20 // past the first MiB of several files in flight
	for _, tt := range []deliverCase{
		{
			name: "cut mid-file", parallel: 2,
			start:  func(r *deliverRun) { r.proxy.CutAfter(midFile) },
			losses: [2]int{1, 1}, resumes: true,
		},
		{
			name: "cut twice", parallel: 4,
			start: func(r *deliverRun) { r.proxy.CutAfter(midFile) },
			lost: func(r *deliverRun, n int) {
				if n == 1 {
					r.proxy.CutAfter(midFile)
				}
			},
			losses: [2]int{2, 2}, resumes: true,
		},
		{
			name: "reset mid-file", parallel: 2,
			wrote: func(r *deliverRun, sent int64) {
				if sent > midFile {
					r.once.Do(r.proxy.Reset)
				}
			},
			losses: [2]int{1, 1}, resumes: true,
		},
		{
			// A stalled proxy holds the bytes of new connections too: it
			// resumes once Deliver has noticed the loss.
			name: "stall mid-file", parallel: 2, link: fastDeath,
			wrote: func(r *deliverRun, sent int64) {
				if sent > midFile {
					r.once.Do(r.proxy.Stall)
				}
			},
			lost:   func(r *deliverRun, n int) { r.proxy.Resume() },
			losses: [2]int{1, 1}, resumes: true,
		},
		{
			// Only the client sees the cut (a NAT dropped its state): the
			// hub's old session lives on, holding the files, until its
			// keepalive fails long after the client is back. The newer
			// offer takes the files over and resumes them.
			name: "cut the client's side only", parallel: 2,
			wrote: func(r *deliverRun, sent int64) {
				if sent > midFile {
					r.once.Do(r.proxy.Orphan)
				}
			},
			losses: [2]int{1, 1}, resumes: true, orphans: 1,
		},
		{
			name: "slow link", parallel: 4,
			start:  func(r *deliverRun) { r.proxy.SetRate(20e6) },
			losses: [2]int{0, 0},
		},
		{
			// Slow, so that the transfer outlasts the shutdown's grace.
			name: "hub restarts", parallel: 2,
			start:  func(r *deliverRun) { r.proxy.SetRate(20e6); r.mark = 4 << 20 },
			during: restartHub,
			losses: [2]int{1, 3}, resumes: true,
		},
	} {
		t.Run(tt.name, func(t *testing.T) { testDeliver(t, tt) })
	}
}

// restartHub shuts the hub down, with a short grace, once some bytes have
// been sent, and starts another on the same folder with the same key.
func restartHub(t *testing.T, r *deliverRun) {
	select {
	case <-r.marked:
	case <-time.After(20 * time.Second):
		t.Fatalf("only %d bytes sent in 20 s", r.sent.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	old := r.hub
	// The transfer cannot finish within the grace: the hub closes anyway.
	if err := old.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v", err)
	}
	next := hubtest.Start(t, hub.Config{Dir: old.Dir, Mux: mux.Config{Key: old.Key, KeepAlive: r.link.KeepAlive, IOTimeout: r.link.IOTimeout}})
	r.proxy.SetTarget(next.Addr)
	r.hub = next
}

func testDeliver(t *testing.T, tt deliverCase) {
	src := deliverTree(t)
	m, skipped, err := transfer.Scan(src)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("Scan: %v, skipped %v", err, skipped)
	}
	h := hubtest.Start(t, hub.Config{Mux: tt.link})
	r := &deliverRun{hub: h, proxy: hubtest.StartProxy(t, h.Addr), link: tt.link, marked: make(chan struct{})}
	if tt.start != nil {
		tt.start(r)
	}
	dial := func(ctx context.Context) (*client.Client, error) {
		cfg := hubtest.ClientConfig(r.proxy.Addr)
		cfg.KeepAlive, cfg.IOTimeout = tt.link.KeepAlive, tt.link.IOTimeout
		return client.Dial(ctx, r.proxy.Addr, client.Config{Name: "alice", Mux: cfg})
	}
	opt := client.DeliverOptions{
		SendOptions: transfer.SendOptions{Parallel: tt.parallel, Observer: transfer.Observer{
			Wrote: func(n int) {
				sent := r.sent.Add(int64(n))
				if r.mark > 0 && sent >= r.mark {
					r.marking.Do(func() { close(r.marked) })
				}
				if tt.wrote != nil {
					tt.wrote(r, sent)
				}
			},
		}},
		Backoff: client.Backoff{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond, GiveUp: 20 * time.Second},
		OnLost: func(err error, files int) {
			n := int(r.losses.Add(1))
			t.Logf("loss %d after %d bytes sent, %d files to go: %v", n, r.sent.Load(), files, err)
			if tt.lost != nil {
				tt.lost(r, n)
			}
		},
		OnRetry: func(attempt int, err error, wait time.Duration) {
			t.Logf("reconnect attempt %d: %v; next in %s", attempt, err, wait)
		},
	}
	type result struct {
		rep *transfer.Report
		err error
	}
	delivered := make(chan result, 1)
	ended := make(chan struct{}) // Deliver has returned
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	go func() {
		defer close(ended)
		rep, err := client.Deliver(ctx, dial, m, opt)
		delivered <- result{rep, err}
	}()
	defer func() { cancel(); <-ended }() // also when during fails the test
	if tt.during != nil {
		tt.during(t, r)
	}
	res := <-delivered
	if res.err != nil {
		t.Fatalf("Deliver: %v; report %+v", res.err, res.rep.Files)
	}
	t.Logf("delivered in %s after %d losses", res.rep.Elapsed.Round(time.Millisecond), r.losses.Load())
	checkDelivered(t, m, res.rep, tt.resumes)
	if n := int(r.losses.Load()); n < tt.losses[0] || n > tt.losses[1] {
		t.Errorf("%d connections lost, want %d to %d", n, tt.losses[0], tt.losses[1])
	}
	waitHubIdle(t, r.hub, tt.orphans)
	hubtest.SameTree(t, src, filepath.Join(r.hub.Dir, "testdata"))
	checkNoParts(t, r.hub.Dir)
}

// checkDelivered checks that the report lists every file of m exactly
// once, delivered under its own name, and, if resumes, that some file
// continued from what the hub held.
func checkDelivered(t *testing.T, m *transfer.Manifest, rep *transfer.Report, resumes bool) {
	t.Helper()
	if rep.Failed() != 0 {
		t.Errorf("%d files not delivered", rep.Failed())
	}
	want := map[string]bool{}
	for _, f := range m.Files {
		if !f.Dir {
			want[f.Path] = true
		}
	}
	seen := map[string]int{}
	var resumed []string
	for _, f := range rep.Files {
		seen[f.Path]++
		switch {
		case !want[f.Path]:
			t.Errorf("report lists %s, which was not sent", f.Path)
		case f.Status != transfer.Delivered:
			t.Errorf("%s: %s (%s), want %s", f.Path, f.Status, f.Err, transfer.Delivered)
		case f.Stored != f.Path:
			t.Errorf("%s stored as %s", f.Path, f.Stored)
		}
		if f.Resumed > 0 {
			resumed = append(resumed, f.Path)
		}
	}
	for p := range want {
		if seen[p] != 1 {
			t.Errorf("report lists %s %d times, want once", p, seen[p])
		}
	}
	t.Logf("resumed: %v", resumed)
	if resumes && len(resumed) == 0 {
		t.Errorf("no file resumed: every file in flight was sent again from byte 0")
	}
}

// waitHubIdle waits until every connection of h has ended but the
// orphans, which no longer hold any file, so that no transfer is still
// writing.
func waitHubIdle(t *testing.T, h *hubtest.Hub, orphans int) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.After(10 * time.Second); len(h.Clients()) > orphans; {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("the hub still has clients 10 s after Deliver returned: %+v", h.Clients())
		}
	}
}

// checkNoParts fails the test if a part is left anywhere under dir, or
// dir holds anything besides the delivered tree and the hub's own
// ".muxfer-" files (its records).
func checkNoParts(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "testdata" && !strings.HasPrefix(e.Name(), ".muxfer-") {
			t.Errorf("hub folder holds %s besides testdata", e.Name())
		}
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".muxfer-") && strings.HasSuffix(d.Name(), ".part") {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

// deliverTree is the repository's testdata with a folder of a few
// megabytes of random files added, big enough that a transfer is cut in
// the middle of several files.
func deliverTree(t *testing.T) string {
	t.Helper()
	src := hubtest.Testdata(t, "../testdata")
	bulk := filepath.Join(src, "bulk")
	if err := os.Mkdir(bulk, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.NewChaCha8([32]byte{'m', 'u', 'x'})
	for name, size := range map[string]int{"a.bin": 6 << 20, "b.bin": 5 << 20, "c.bin": 4 << 20} {
		b := make([]byte, size)
		rng.Read(b)
		if err := os.WriteFile(filepath.Join(bulk, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src
}
