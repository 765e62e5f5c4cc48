package client_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/internal/seal"
	"github.com/muxfer/muxfer/protocol"
)

// clock is a hub's clock that a test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// person connects a session as name with identity id, receiving into dir
// (none if ""), answering offers with decide.
func person(t *testing.T, addr, name string, id *client.Identity, dir string, decide client.Decision) *client.Session {
	t.Helper()
	return connect(t, addr, client.SessionConfig{Name: name, Identity: id, Dir: dir, NoReconnect: true,
		Decide: func(client.Offer) client.Decision { return decide }})
}

// secretTree writes files whose names and bytes are easy to look for.
func secretTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "plans-zebra")
	os.MkdirAll(filepath.Join(dir, "inner-walrus"), 0o755)
	os.WriteFile(filepath.Join(dir, "launch-codes-okapi.txt"), bytes.Repeat([]byte("TOP SECRET OKAPI "), 5000), 0o600)
	os.WriteFile(filepath.Join(dir, "inner-walrus", "map-narwhal.bin"), bytes.Repeat([]byte("NARWHAL"), 300000), 0o644)
	os.WriteFile(filepath.Join(dir, "empty-lemur.txt"), nil, 0o644)
	return dir
}

// findsInClear reports what of needles the files under dir hold, in
// their names or bytes.
func findsInClear(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		for _, n := range needles {
			if strings.Contains(d.Name(), n) {
				found = append(found, p+" is named "+n)
			}
		}
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			for _, n := range needles {
				if bytes.Contains(b, []byte(n)) {
					found = append(found, p+" holds "+n)
				}
			}
		}
		return nil
	})
	return found
}

// heldDirs lists the held transfers' folders in a hub's folder.
func heldDirs(hubDir string) []string {
	entries, _ := os.ReadDir(filepath.Join(hubDir, hub.HeldFolder))
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

func waitEvent[E client.Event](t *testing.T, s *client.Session, ok func(E) bool) E {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, open := <-s.Events():
			if !open {
				t.Fatalf("the session ended: %v", s.Err())
			}
			if e, is := ev.(E); is && ok(e) {
				return e
			}
		case <-timeout:
			var zero E
			t.Fatalf("no %T came", zero)
		}
	}
}

// TestHeldForSomeoneOfflineArrivesADayLater: alice sends to carol, who
// is away; the hub holds the files, sealed: nothing of them in clear on
// its disk; it restarts; carol connects a day later and gets them intact;
// then the hub holds nothing.
func TestHeldForSomeoneOfflineArrivesADayLater(t *testing.T) {
	hubDir := t.TempDir()
	clk := &clock{now: time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)}
	h := hubtest.Start(t, hub.Config{Dir: hubDir, Now: clk.Now})
	carolID := client.NewIdentity()
	person(t, h.Addr, "carol", carolID, "", client.Decline).Close() // her name is hers from now on

	src := secretTree(t)
	alice := person(t, h.Addr, "alice", client.NewIdentity(), "", client.Decline)
	files, _, err := client.Paths(src)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go alice.Send(ctx, files, client.SendOptions{To: "carol"})
	done := waitEvent(t, alice, func(client.SendDone) bool { return true })
	if done.Err != nil || done.Held == nil || done.Report.Failed() > 0 {
		t.Fatalf("send to carol, away: %v, held %+v, report %+v", done.Err, done.Held, done.Report.Files)
	}
	if want := clk.Now().Add(hub.DefaultHold); !done.Held.Expires.Equal(want) {
		t.Errorf("held until %v, want %v", done.Held.Expires, want)
	}
	alice.Close()
	if found := findsInClear(t, hubDir, "OKAPI", "NARWHAL", "okapi", "narwhal", "walrus", "zebra", "lemur"); len(found) > 0 {
		t.Errorf("the hub's folder holds in clear: %v", found)
	}
	h.Close()

	clk.add(24 * time.Hour)
	h = hubtest.Start(t, hub.Config{Dir: hubDir, Now: clk.Now})
	inbox := t.TempDir()
	carol := person(t, h.Addr, "carol", carolID, inbox, client.Accept)
	offered := waitEvent(t, carol, func(client.Offered) bool { return true })
	if o := offered.Offer; o.Held == nil || o.From != "alice" || len(o.Files) != 5 {
		t.Errorf("carol was offered %+v, want alice's 5 entries, held", o)
	}
	end := waitEvent(t, carol, func(client.OfferDone) bool { return true })
	if end.Received != 3 || end.Failed != 0 || end.Cut {
		t.Fatalf("carol received %d, %d failed (cut: %v)", end.Received, end.Failed, end.Cut)
	}
	hubtest.SameTree(t, src, filepath.Join(inbox, "plans-zebra"))
	sameModesAndTimes(t, src, filepath.Join(inbox, "plans-zebra"))
	carol.Close()
	waitUntil(t, func() bool { return len(heldDirs(hubDir)) == 0 }, "the hub deletes what carol took")
	var names []string
	entries, _ := os.ReadDir(inbox)
	for _, e := range entries {
		if e.Name() != ".muxfer-records" {
			names = append(names, e.Name())
		}
	}
	if len(names) != 1 || names[0] != "plans-zebra" {
		t.Errorf("carol's folder holds %v, want plans-zebra alone (and the records)", names)
	}
}

// waitUntil polls cond until it holds, for at most 10 s.
func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}

// TestHeldForTwoStoredOnceEachAnswers: bob declines, carol takes; the
// bytes were stored once, and are gone once both answered.
func TestHeldForTwoStoredOnceEachAnswers(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	bobID, carolID := client.NewIdentity(), client.NewIdentity()
	person(t, h.Addr, "bob", bobID, "", client.Decline).Close()
	person(t, h.Addr, "carol", carolID, "", client.Decline).Close()
	src := secretTree(t)
	alice := person(t, h.Addr, "alice", client.NewIdentity(), "", client.Decline)
	files, _, _ := client.Paths(src)
	go alice.Send(context.Background(), files, client.SendOptions{To: "bob,carol"})
	done := waitEvent(t, alice, func(client.SendDone) bool { return true })
	if done.Err != nil || done.Held == nil || len(done.Held.To) != 2 {
		t.Fatalf("send to bob and carol: %v, held %+v", done.Err, done.Held)
	}
	if dirs := heldDirs(h.Dir); len(dirs) != 1 {
		t.Fatalf("the hub holds %v, want one transfer for both", dirs)
	}

	bobDir := t.TempDir()
	bob := person(t, h.Addr, "bob", bobID, bobDir, client.Decline)
	if o := waitEvent(t, bob, func(client.Offered) bool { return true }).Offer; o.Decision != client.Decline || o.From != "alice" {
		t.Errorf("bob's offer: %+v", o)
	}
	carolDir := t.TempDir()
	carol := person(t, h.Addr, "carol", carolID, carolDir, client.Accept)
	if end := waitEvent(t, carol, func(client.OfferDone) bool { return true }); end.Received != 3 || end.Failed != 0 {
		t.Fatalf("carol received %d, %d failed", end.Received, end.Failed)
	}
	hubtest.SameTree(t, src, filepath.Join(carolDir, "plans-zebra"))
	if entries, _ := os.ReadDir(bobDir); len(entries) > 1 {
		t.Errorf("bob declined and his folder holds %v", entries)
	}
	waitUntil(t, func() bool { return len(heldDirs(h.Dir)) == 0 }, "the hub deletes what both answered")
}

// TestHeldTransfersExpireAreWithdrawnAndBounded: what nobody takes is
// deleted when it expires; a sender withdraws what it holds; a sender
// over its quota is refused with a clear error.
func TestHeldTransfersExpireAreWithdrawnAndBounded(t *testing.T) {
	clk := &clock{now: time.Now()}
	h := hubtest.Start(t, hub.Config{Now: clk.Now, HoldQuota: 2 << 20})
	carolID := client.NewIdentity()
	person(t, h.Addr, "carol", carolID, "", client.Decline).Close()
	aliceID := client.NewIdentity()
	alice := person(t, h.Addr, "alice", aliceID, "", client.Decline)
	send := func(size int) client.SendDone {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "f.bin"), bytes.Repeat([]byte{1}, size), 0o644)
		files, _, _ := client.Paths(filepath.Join(dir, "f.bin"))
		go alice.Send(context.Background(), files, client.SendOptions{To: "carol"})
		return waitEvent(t, alice, func(client.SendDone) bool { return true })
	}
	first := send(1 << 20)
	second := send(512 << 10)
	if first.Held == nil || second.Held == nil {
		t.Fatalf("held: %v %v; %v %v", first.Held, first.Err, second.Held, second.Err)
	}
	over := send(1 << 20)
	if over.Held != nil || over.Err == nil || !strings.Contains(over.Err.Error(), "holds") {
		t.Errorf("a send over the quota: held %+v, %v; want it refused saying why", over.Held, over.Err)
	}

	list, err := alice.Holds(context.Background(), "")
	if err != nil || len(list) != 2 {
		t.Fatalf("alice's holds: %+v, %v", list, err)
	}
	if list, err = alice.Holds(context.Background(), first.Held.ID); err != nil || len(list) != 1 || list[0].ID != second.Held.ID {
		t.Fatalf("after withdrawing the first: %+v, %v", list, err)
	}
	if _, err := alice.Holds(context.Background(), first.Held.ID); err == nil {
		t.Error("withdrawing it again worked")
	}
	if dirs := heldDirs(h.Dir); len(dirs) != 1 || dirs[0] != second.Held.ID {
		t.Errorf("the hub holds %v after a withdrawal, want %s", dirs, second.Held.ID)
	}
	alice.Close()
	h.Close()

	clk.add(hub.DefaultHold + time.Minute)
	h2 := hubtest.Start(t, hub.Config{Dir: h.Dir, Now: clk.Now})
	if dirs := heldDirs(h2.Dir); len(dirs) != 0 {
		t.Errorf("the hub holds %v after they expired", dirs)
	}
	if list, err := person(t, h2.Addr, "alice", aliceID, "", client.Decline).Holds(context.Background(), ""); err != nil || len(list) != 0 {
		t.Errorf("alice's holds after they expired: %+v, %v", list, err)
	}
}

// TestHeldTransferChangedOnTheHubIsRefused: a stream changed on the
// hub's disk does not open, bytes another recipient sealed under the
// transfer's key do not match what the sender signed, and a stranger gets
// nothing of the transfer; no file of theirs takes its name.
func TestHeldTransferChangedOnTheHubIsRefused(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(t *testing.T, stream string, bob *client.Identity, key []byte)
	}{
		{"a byte flipped", func(t *testing.T, stream string, _ *client.Identity, _ []byte) {
			b, _ := os.ReadFile(stream)
			b[len(b)/2] ^= 1
			os.WriteFile(stream, b, 0o600)
		}},
		{"resealed by another recipient", func(t *testing.T, stream string, bob *client.Identity, wrapped []byte) {
			key, err := seal.Unwrap(wrapped, bob.PrivateKey())
			if err != nil {
				t.Fatal(err)
			}
			var id seal.ID
			raw, _ := hex.DecodeString(filepath.Base(filepath.Dir(stream)))
			copy(id[:], raw)
			var b bytes.Buffer
			forged := bytes.Repeat([]byte("BOB WAS HERE "), 1000)
			if _, _, err := seal.Seal(&b, key, id, 0, bytes.NewReader(forged)); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(stream, b.Bytes(), 0o600)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := hubtest.Start(t, hub.Config{})
			bobID, carolID := client.NewIdentity(), client.NewIdentity()
			person(t, h.Addr, "bob", bobID, "", client.Decline).Close()
			person(t, h.Addr, "carol", carolID, "", client.Decline).Close()
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "only.txt"), bytes.Repeat([]byte("the sender's words "), 700), 0o644)
			alice := person(t, h.Addr, "alice", client.NewIdentity(), "", client.Decline)
			files, _, _ := client.Paths(filepath.Join(dir, "only.txt"))
			go alice.Send(context.Background(), files, client.SendOptions{To: "bob,carol"})
			done := waitEvent(t, alice, func(client.SendDone) bool { return true })
			if done.Held == nil {
				t.Fatalf("not held: %v", done.Err)
			}
			held := filepath.Join(h.Dir, hub.HeldFolder, done.Held.ID)
			wrapped, _ := os.ReadFile(filepath.Join(held, "key"))
			tt.change(t, filepath.Join(held, "0"), bobID, wrapped)

			mallory := dialAs(t, h.Addr, "mallory", client.NewIdentity())
			if _, err := mallory.Get(context.Background(), t.TempDir(), []string{"key", "0"}, client.GetOptions{Hold: done.Held.ID}); codeOf(err) != protocol.CodeNotFound {
				t.Errorf("a stranger's get of the held transfer: %v, want not found", err)
			}

			inbox := t.TempDir()
			carol := person(t, h.Addr, "carol", carolID, inbox, client.Accept)
			end := waitEvent(t, carol, func(client.OfferDone) bool { return true })
			if end.Received != 0 || end.Failed != 1 {
				t.Errorf("carol received %d, %d failed; want the changed file refused", end.Received, end.Failed)
			}
			if _, err := os.Stat(filepath.Join(inbox, "only.txt")); err == nil {
				t.Error("the changed file took its name")
			}
		})
	}
}

// TestHeldTakeCutMidFileResumes: carol's connection is cut while the
// sealed streams come; what came stays beside her folder, and the next
// time she connects the transfer is offered again and finishes intact.
func TestHeldTakeCutMidFileResumes(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	carolID := client.NewIdentity()
	person(t, h.Addr, "carol", carolID, "", client.Decline).Close()
	src := t.TempDir()
	sparseFiles(t, src, 64<<20, "big.bin")
	alice := person(t, h.Addr, "alice", client.NewIdentity(), "", client.Decline)
	files, _, _ := client.Paths(filepath.Join(src, "big.bin"))
	go alice.Send(context.Background(), files, client.SendOptions{To: "carol"})
	done := waitEvent(t, alice, func(client.SendDone) bool { return true })
	if done.Held == nil {
		t.Fatalf("not held: %v", done.Err)
	}

	proxy := hubtest.StartProxy(t, h.Addr)
	inbox := t.TempDir()
	carol := person(t, proxy.Addr, "carol", carolID, inbox, client.Accept)
	var got int64
	for got <= 16<<20 {
		got += waitEvent(t, carol, func(p client.Progress) bool { return p.Offer > 0 }).Bytes
	}
	proxy.Cut()
	if end := waitEvent(t, carol, func(client.OfferDone) bool { return true }); !end.Cut {
		t.Fatalf("after the cut: %+v, want the offer cut", end)
	}
	var parts int64
	filepath.WalkDir(filepath.Join(inbox, ".muxfer-held-"+done.Held.ID), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".part") {
			info, _ := d.Info()
			parts += info.Size()
		}
		return nil
	})
	if parts <= 0 {
		t.Errorf("nothing of the sealed stream was kept after the cut")
	}
	if _, err := os.Stat(filepath.Join(inbox, "big.bin")); err == nil {
		t.Fatal("big.bin took its name before it was whole")
	}

	carol2 := person(t, h.Addr, "carol", carolID, inbox, client.Accept)
	if end := waitEvent(t, carol2, func(client.OfferDone) bool { return true }); end.Received != 1 || end.Cut {
		t.Fatalf("the second take: %+v", end)
	}
	if a, b := hubtest.TreeHashes(t, src)["big.bin"], hubtest.TreeHashes(t, inbox)["big.bin"]; a != b {
		t.Errorf("big.bin arrived with SHA-256 %.12s, want %.12s", b, a)
	}
	if _, err := os.Stat(filepath.Join(inbox, ".muxfer-held-"+done.Held.ID)); err == nil {
		t.Error("the sealed streams stayed after they were opened")
	}
}
