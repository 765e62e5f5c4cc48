package client_test

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// receiver dials a client called name that stores what others send it in
// a folder of its own, answering every offer with answer, and records the
// offers it got.
type receiver struct {
	*hubtest.Client
	inbox string
	mu    sync.Mutex
	offer []protocol.Offer
}

func dialReceiver(t *testing.T, addr, name string, answer client.Decision) *receiver {
	t.Helper()
	r := &receiver{inbox: filepath.Join(t.TempDir(), "inbox")}
	r.Client = hubtest.DialConfig(t, addr, client.Config{Name: name, Inbox: r.inbox, OnOffer: func(o protocol.Offer) client.Decision {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.offer = append(r.offer, o)
		return answer
	}})
	return r
}

func (r *receiver) offers() []protocol.Offer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]protocol.Offer(nil), r.offer...)
}

func scan(t *testing.T, paths ...string) *transfer.Manifest {
	t.Helper()
	m, skipped, err := transfer.Scan(paths...)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("Scan: %v, skipped %v", err, skipped)
	}
	return m
}

func TestRelayDeliversTestdataToAnotherClientWhileAThirdChats(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	src := hubtest.Testdata(t, "../testdata")
	bob := dialReceiver(t, h.Addr, "bob", client.Accept)
	alice := hubtest.Dial(t, h.Addr, "alice")
	carol := hubtest.Dial(t, h.Addr, "carol")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const lines = 20
	chatted := make(chan error, 1)
	go func() {
		for i := range lines {
			if err := carol.Chat(fmt.Sprintf("line %d", i)); err != nil {
				chatted <- err
				return
			}
		}
		chatted <- nil
	}()
	m := scan(t, src)
	key := []byte("alice's resume key")
	rep, err := alice.Upload(ctx, m, transfer.SendOptions{Parallel: 3, To: "bob", ResumeKey: key})
	if err := <-chatted; err != nil {
		t.Fatalf("carol's chat: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() != 0 {
		t.Fatalf("failed files: %+v", rep.Files)
	}
	hubtest.SameTree(t, src, filepath.Join(bob.inbox, "testdata"))
	if _, err := os.Stat(filepath.Join(h.Dir, "testdata")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the hub stored something of a relayed transfer: %v", err)
	}
	if o := bob.offers(); len(o) != 1 || o[0].From != "alice" || o[0].FromID != alice.ID() || o[0].To != "" {
		t.Errorf("bob's offers: %+v, want one from alice", o)
	}
	// Alice's resume tokens would let bob take over her uploads of the
	// same files to the hub: he gets tokens of the hub's making.
	for i, f := range bob.offers()[0].Files {
		if f.Dir {
			continue
		}
		if f.Resume == "" || f.Resume == transfer.ResumeToken(key, m.Files[i]) {
			t.Errorf("%s: bob sees resume token %q, want one other than alice's", f.Path, f.Resume)
		}
	}
	bob.WaitFor(t, 10*time.Second, "carol's chat", func(m []protocol.Message) bool { return len(hubtest.Chats(m)) == lines })
}

func TestRelayToNobodyOrToOneselfIsRejectedAtOnce(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	alice := hubtest.Dial(t, h.Addr, "alice")
	src := hubtest.Testdata(t, "../testdata")
	// Nobody there: not sent, as the name may connect later (Deliver
	// fails at once all the same, see TestDeliverToNobodyFailsAtOnce).
	for _, tc := range []struct{ to, want, status string }{
		{"nobody", `nobody called "nobody" is connected`, transfer.NotSent},
		{"ALICE", "cannot send files to yourself", transfer.Failed},
	} {
		t.Run(tc.to, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			rep, err := alice.Upload(ctx, scan(t, src), transfer.SendOptions{To: tc.to})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Upload to %s: %v, want %q", tc.to, err, tc.want)
			}
			for _, f := range rep.Files {
				if f.Status != tc.status || !strings.Contains(f.Err, tc.want) {
					t.Errorf("%s: %s %q, want %s with the reason", f.Path, f.Status, f.Err, tc.status)
				}
			}
		})
	}
}

func TestRelayDeclinedLeavesNothingAndTellsTheSender(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	bob := dialReceiver(t, h.Addr, "bob", client.Decline)
	alice := hubtest.Dial(t, h.Addr, "alice")
	// carol receives nothing at all: no inbox.
	hubtest.Dial(t, h.Addr, "carol")
	src := hubtest.Testdata(t, "../testdata")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct{ to, want string }{
		{"bob", "bob: declined"},
		{"carol", "carol: not receiving files"},
	} {
		_, err := alice.Upload(ctx, scan(t, src), transfer.SendOptions{To: tc.to})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("Upload to %s: %v, want %q", tc.to, err, tc.want)
		}
	}
	if len(bob.offers()) != 1 {
		t.Errorf("bob was asked %d times, want once", len(bob.offers()))
	}
	entries, err := os.ReadDir(bob.inbox)
	if err != nil || len(entries) != 0 {
		t.Errorf("bob's inbox after declining: %v, %v; want it empty", entries, err)
	}
}

// TestRelayRecipientLeavingMidFileLeavesTheFilesToSendAgain: the sender
// learns which files were not stored and why, the error says the
// recipient is away (so that Deliver waits for it), and the sender's
// connection goes on.
func TestRelayRecipientLeavingMidFileLeavesTheFilesToSendAgain(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	bob := dialReceiver(t, h.Addr, "bob", client.Accept)
	alice := hubtest.Dial(t, h.Addr, "alice")
	dir := t.TempDir()
	sparseFiles(t, dir, 32<<20, "a.bin", "b.bin")
	hold := holdAfter(4 << 20) // the sender, mid-file, until bob is gone
	opt := transfer.SendOptions{To: "bob", Parallel: 1, Observer: transfer.Observer{Wrote: hold.wrote}}
	type outcome struct {
		rep *transfer.Report
		err error
	}
	done := make(chan outcome, 1)
	m := scan(t, dir)
	go func() {
		rep, err := alice.Upload(context.Background(), m, opt)
		done <- outcome{rep, err}
	}()
	<-hold.reached
	bob.Close()
	close(hold.release)
	var o outcome
	select {
	case o = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the sender did not hear that bob left")
	}
	if !errors.Is(o.err, transfer.ErrRecipientAway) || !strings.Contains(o.err.Error(), "bob left") {
		t.Errorf("Upload: %v, want ErrRecipientAway saying bob left", o.err)
	}
	if len(o.rep.Files) != 2 {
		t.Fatalf("report: %+v, want two files", o.rep.Files)
	}
	for _, f := range o.rep.Files {
		if f.Status != transfer.NotSent || !strings.Contains(f.Err, "bob left") {
			t.Errorf("%s: %s %q, want not_sent, saying bob left", f.Path, f.Status, f.Err)
		}
	}
	if err := alice.Err(); err != nil {
		t.Errorf("alice's connection: %v", err)
	}
}

// TestRelaySenderLeavingMidFileLeavesTheRecipientWhole: the file being
// relayed fails on the recipient's side, the files not begun are
// cancelled, nothing appears under a final name, and the recipient's
// connection goes on.
func TestRelaySenderLeavingMidFileLeavesTheRecipientWhole(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	var mu sync.Mutex
	var results []protocol.Result
	inbox := filepath.Join(t.TempDir(), "inbox")
	failed := make(chan struct{})
	bob := hubtest.DialConfig(t, h.Addr, client.Config{Name: "bob", Inbox: inbox,
		OnOffer: func(protocol.Offer) client.Decision { return client.Accept },
		OnReceived: func(r protocol.Result) {
			mu.Lock()
			defer mu.Unlock()
			if results = append(results, r); len(results) == 2 {
				close(failed)
			}
		}})
	alice := hubtest.Dial(t, h.Addr, "alice")
	dir := t.TempDir()
	sparseFiles(t, dir, 32<<20, "a.bin", "b.bin")
	hold := holdAfter(4 << 20) // the sender, mid-file, until she has left
	opt := transfer.SendOptions{To: "bob", Parallel: 1, Observer: transfer.Observer{Wrote: hold.wrote}}
	m := scan(t, dir)
	done := make(chan error, 1)
	go func() {
		_, err := alice.Upload(context.Background(), m, opt)
		done <- err
	}()
	<-hold.reached
	alice.Close()
	close(hold.release)
	if err := <-done; !errors.Is(err, transfer.ErrConnectionLost) {
		t.Errorf("alice's Upload after she left: %v, want connection lost", err)
	}
	select {
	case <-failed:
	case <-time.After(20 * time.Second):
		t.Fatal("bob never heard of both files: the one cut and the one cancelled")
	}
	mu.Lock()
	cancelled := 0
	for _, r := range results {
		if r.Error == "" {
			t.Errorf("bob's result %+v: want a failure", r)
		}
		if strings.Contains(r.Error, "cancelled by the sender") {
			cancelled++
		}
	}
	if cancelled != 1 {
		t.Errorf("bob's results: %+v, want one of them the cancelled file not begun", results)
	}
	mu.Unlock()
	entries, err := os.ReadDir(filepath.Join(inbox, filepath.Base(dir)))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".muxfer-") {
			t.Errorf("bob's inbox holds %s, from a transfer that was cut", e.Name())
		}
	}
	if err := bob.Err(); err != nil {
		t.Errorf("bob's connection: %v", err)
	}
}

// TestRelayCutOnTheSendersSideResumesAtTheRecipient: the recipient keeps
// the part of a relayed file whose sender's link broke, and the same send
// made again to the same recipient continues from it.
func TestRelayCutOnTheSendersSideResumesAtTheRecipient(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	proxy := hubtest.StartProxy(t, h.Addr)
	inbox := filepath.Join(t.TempDir(), "inbox")
	cut := make(chan struct{})
	var once sync.Once
	hubtest.DialConfig(t, h.Addr, client.Config{Name: "bob", Inbox: inbox,
		OnOffer:    func(protocol.Offer) client.Decision { return client.Accept },
		OnReceived: func(r protocol.Result) { once.Do(func() { close(cut) }) }})
	alice := hubtest.Dial(t, proxy.Addr, "alice")
	src := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(src, []byte("start"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(src, 64<<20); err != nil { // sparse
		t.Fatal(err)
	}
	m := scan(t, src)
	key := []byte("alice's resume key")
	var cutOnce sync.Once
	var sent int64
	_, err := alice.Upload(context.Background(), m, transfer.SendOptions{To: "bob", ResumeKey: key, Observer: transfer.Observer{
		Wrote: func(n int) {
			if sent += int64(n); sent > 16<<20 {
				cutOnce.Do(proxy.Cut)
			}
		},
	}})
	if !errors.Is(err, transfer.ErrConnectionLost) {
		t.Fatalf("Upload through a cut link: %v, want connection lost", err)
	}
	select {
	case <-cut: // bob's side of the file failed: the part is there
	case <-time.After(20 * time.Second):
		t.Fatal("bob never heard that the file was cut")
	}
	alice2 := hubtest.Dial(t, h.Addr, "alice2")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := alice2.Upload(ctx, m, transfer.SendOptions{To: "bob", ResumeKey: key})
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("second Upload: %v; report %+v", err, rep.Files)
	}
	if r := rep.Files[0]; r.Resumed <= 0 || r.Resumed >= 64<<20 {
		t.Errorf("resumed from byte %d, want somewhere after 0 and before the end", r.Resumed)
	}
	if got, want := hubtest.TreeHashes(t, inbox)["big.bin"], hubtest.TreeHashes(t, filepath.Dir(src))["big.bin"]; got != want {
		t.Errorf("big.bin arrived with SHA-256 %.12s, sent %.12s", got, want)
	}
}

// sparseFiles creates files of size bytes (sparse, all zeros) in dir.
func sparseFiles(t *testing.T, dir string, size int64, names ...string) {
	t.Helper()
	for _, name := range names {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		err = f.Truncate(size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestRelayToASlowRecipientKeepsLittleInFlight: a recipient behind a slow
// link receives a file many times larger than the hub's buffers, and at
// no moment has the sender written much more than the recipient has
// stored: the yamux windows on both sides and the hub's copy buffer are
// all that is in flight, so the hub holds no more than that either.
func TestRelayToASlowRecipientKeepsLittleInFlight(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	slow := hubtest.StartProxy(t, h.Addr)
	slow.SetRate(4 << 20)
	var stored atomic.Int64
	inbox := filepath.Join(t.TempDir(), "inbox")
	hubtest.DialConfig(t, slow.Addr, client.Config{Name: "bob", Inbox: inbox,
		OnOffer:    func(protocol.Offer) client.Decision { return client.Accept },
		OnProgress: func(_ string, _, n int) { stored.Add(int64(n)) }})
	alice := hubtest.Dial(t, h.Addr, "alice")
	dir := t.TempDir()
	const size = 12 << 20
	sparseFiles(t, dir, size, "big.bin")
	// alice's window to the hub (1 MiB), the hub's 64 KiB buffer, the
	// hub's window to bob (1 MiB), and what bob has read but not yet
	// written: well under 3 MiB.
	const limit = 3 << 20
	var sent, most atomic.Int64
	opt := transfer.SendOptions{To: "bob", Observer: transfer.Observer{Wrote: func(n int) {
		ahead := sent.Add(int64(n)) - stored.Load()
		for m := most.Load(); ahead > m && !most.CompareAndSwap(m, ahead); m = most.Load() {
		}
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := alice.Upload(ctx, scan(t, dir), opt)
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("Upload: %v; report %+v", err, rep.Files)
	}
	if got := stored.Load(); got != size {
		t.Errorf("bob stored %d bytes, want %d", got, size)
	}
	if m := most.Load(); m > limit {
		t.Errorf("alice was %d bytes ahead of bob at most, want at most %d", m, limit)
	}
	t.Logf("alice was at most %d KiB ahead of bob", most.Load()>>10)
}

// hold stops a sender inside Observer.Wrote once it has written more than
// after bytes, until release is closed: a moment mid-file that the test
// chooses, and ends.
type hold struct {
	after            int64
	sent             atomic.Int64
	once             sync.Once
	reached, release chan struct{}
}

func holdAfter(after int64) *hold {
	return &hold{after: after, reached: make(chan struct{}), release: make(chan struct{})}
}

// wrote is the Observer's Wrote.
func (h *hold) wrote(n int) {
	if h.sent.Add(int64(n)) > h.after {
		h.once.Do(func() { close(h.reached); <-h.release })
	}
}
