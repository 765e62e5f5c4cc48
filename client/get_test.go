package client_test

import (
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// dialAs connects a client called name that proves identity (none if nil).
func dialAs(t *testing.T, addr, name string, id *client.Identity) *hubtest.Client {
	t.Helper()
	return hubtest.DialConfig(t, addr, client.Config{Name: name, Identity: id})
}

// upload sends paths to the hub from c, and fails the test unless every
// file is delivered.
func upload(t *testing.T, c *hubtest.Client, paths ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := c.Upload(ctx, scan(t, paths...), transfer.SendOptions{})
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("Upload: %v; %+v", err, rep.Files)
	}
}

// get downloads paths from the hub into dir with c.
func get(c *hubtest.Client, dir string, paths ...string) (*client.GetReport, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return c.Get(ctx, dir, paths, client.GetOptions{})
}

// paths lists the paths of entries, sorted.
func paths(entries []client.Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Path)
	}
	sort.Strings(out)
	return out
}

// codeOf returns the code of a *protocol.Error in err, or "".
func codeOf(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// sameModesAndTimes fails the test unless every entry under want has the
// same permission bits and mtime under got.
func sameModesAndTimes(t *testing.T, want, got string) {
	t.Helper()
	filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(want, p)
		w, _ := d.Info()
		g, err := os.Lstat(filepath.Join(got, rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if w.Mode().Perm() != g.Mode().Perm() {
			t.Errorf("%s: mode %v, want %v", rel, g.Mode().Perm(), w.Mode().Perm())
		}
		if !d.IsDir() && !w.ModTime().Equal(g.ModTime()) {
			t.Errorf("%s: mtime %v, want %v", rel, g.ModTime(), w.ModTime())
		}
		return nil
	})
}

func TestGetReturnsATreeUploadedEarlierIdentical(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	src := hubtest.Testdata(t, "../testdata")
	old := time.Date(2024, 2, 29, 12, 0, 0, 123456789, time.UTC)
	for name, mode := range map[string]os.FileMode{"hello.txt": 0o600, "notes with spaces.md": 0o755} {
		os.Chmod(filepath.Join(src, name), mode)
		os.Chtimes(filepath.Join(src, name), old, old)
	}
	id := client.NewIdentity()
	alice := dialAs(t, h.Addr, "alice", id)
	upload(t, alice, src)

	ctx := context.Background()
	top, err := alice.List(ctx, "", false)
	if err != nil || len(top) != 1 || top[0].Path != "testdata" || !top[0].Dir {
		t.Fatalf("List of the top: %+v, %v; want the folder testdata alone", top, err)
	}
	all, err := alice.List(ctx, "testdata", true)
	if err != nil {
		t.Fatal(err)
	}
	want := hubtest.TreeHashes(t, src)
	if len(all) != len(want)-1 { // TreeHashes has the top itself, "."
		t.Errorf("recursive List has %d entries, want %d: %v", len(all), len(want)-1, paths(all))
	}
	for _, e := range all {
		if !e.Dir && (e.By != "alice" || e.ByIdentity != hex.EncodeToString(id.Public()) || !strings.HasPrefix(e.Hash, "xxh3-128:") || e.At == 0) {
			t.Errorf("%s: uploaded by %q (%.8s) at %d, hash %q; want alice's, with a hash and a time", e.Path, e.By, e.ByIdentity, e.At, e.Hash)
		}
	}

	dir := t.TempDir()
	rep, err := get(alice, dir, "testdata")
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("Get: %v; %+v", err, rep.Files)
	}
	hubtest.SameTree(t, src, filepath.Join(dir, "testdata"))
	sameModesAndTimes(t, src, filepath.Join(dir, "testdata"))

	// Again, into the same folder: confirmed, not stored twice.
	rep, err = get(alice, dir, "testdata")
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("second Get: %v; %+v", err, rep.Files)
	}
	hubtest.SameTree(t, src, filepath.Join(dir, "testdata"))

	// One file, by its path: it arrives under its own name.
	one := t.TempDir()
	if rep, err := get(alice, one, "testdata/nested/"); err != nil || rep.Failed() != 0 {
		t.Fatalf("Get of a folder inside: %v; %+v", err, rep)
	}
	hubtest.SameTree(t, filepath.Join(src, "nested"), filepath.Join(one, "nested"))
	if rep, err := get(alice, one, "testdata/hello.txt"); err != nil || len(rep.Files) != 1 || rep.Files[0].Stored != "hello.txt" {
		t.Fatalf("Get of a file: %v; %+v", err, rep)
	}
}

func TestWhoMayReadWhat(t *testing.T) {
	src := hubtest.Testdata(t, "../testdata")
	tests := []struct {
		name   string
		cfg    hub.Config
		bob    bool   // bob, another identity, reads alice's upload
		nobody bool   // a client without an identity reads it
		shared bool   // bob reads the shared folder
		code   string // the code bob gets for alice's upload, if he may not read it
	}{
		{"each their own", hub.Config{}, false, false, false, protocol.CodeNotFound},
		{"each their own and a shared folder", hub.Config{Shared: []string{"team/"}}, false, false, true, protocol.CodeNotFound},
		{"everyone everything", hub.Config{Read: hub.ReadAll}, true, true, true, ""},
		{"nobody", hub.Config{Read: hub.ReadNone, Shared: []string{"team"}}, false, false, false, protocol.CodeDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hubtest.Start(t, tt.cfg)
			alice := dialAs(t, h.Addr, "alice", client.NewIdentity())
			upload(t, alice, src)
			if err := os.MkdirAll(filepath.Join(h.Dir, "team"), 0o755); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(h.Dir, "team", "plan.txt"), []byte("the plan"), 0o644)

			bob := dialAs(t, h.Addr, "bob", client.NewIdentity())
			nobody := dialAs(t, h.Addr, "guest", nil)
			for _, c := range []struct {
				who  *hubtest.Client
				may  bool
				name string
			}{{bob, tt.bob, "bob"}, {nobody, tt.nobody, "a client without an identity"}} {
				_, err := c.who.List(context.Background(), "testdata", true)
				_, gerr := get(c.who, t.TempDir(), "testdata/hello.txt")
				if c.may && (err != nil || gerr != nil) {
					t.Errorf("%s: List %v, Get %v; want both to work", c.name, err, gerr)
				}
				if !c.may && (codeOf(err) != tt.code || codeOf(gerr) != tt.code) {
					t.Errorf("%s: List %v, Get %v; want code %q", c.name, err, gerr, tt.code)
				}
			}
			top, err := bob.List(context.Background(), "", false)
			sawTeam := err == nil && strings.Contains(strings.Join(paths(top), " "), "team")
			dir := t.TempDir()
			_, gerr := get(bob, dir, "team")
			plan, _ := os.ReadFile(filepath.Join(dir, "team", "plan.txt"))
			if got := sawTeam && gerr == nil && string(plan) == "the plan"; got != tt.shared {
				t.Errorf("bob lists %v (%v) and gets the shared folder: %v (%v); want %v", paths(top), err, got, gerr, tt.shared)
			}
			// What alice herself sees never includes the hub's own files.
			mine, err := alice.List(context.Background(), "", true)
			for _, p := range paths(mine) {
				if strings.Contains(p, ".muxfer-") {
					t.Errorf("alice's listing shows the hub's own file %s", p)
				}
			}
			if tt.cfg.Read != hub.ReadNone && (err != nil || len(mine) == 0) {
				t.Errorf("alice lists her own: %v, %v", mine, err)
			}
		})
	}
}

func TestGetCutMidFileResumes(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	id := client.NewIdentity()
	src := t.TempDir()
	sparseFiles(t, src, 96<<20, "big.bin")
	upload(t, dialAs(t, h.Addr, "alice", id), filepath.Join(src, "big.bin"))

	proxy := hubtest.StartProxy(t, h.Addr)
	c := dialAs(t, proxy.Addr, "alice-2", id)
	dir := t.TempDir()
	var once sync.Once
	var mu sync.Mutex
	var got int64
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := c.Get(ctx, dir, []string{"big.bin"}, client.GetOptions{Wrote: func(_ string, n int) {
		mu.Lock()
		defer mu.Unlock()
		if got += int64(n); got > 16<<20 {
			once.Do(proxy.Cut)
		}
	}})
	if !errors.Is(err, client.ErrConnectionLost) || len(rep.Files) != 1 || rep.Files[0].OK() {
		t.Fatalf("Get through a cut: %v; %+v; want the connection lost, big.bin not received", err, rep.Files)
	}
	if entries, _ := os.ReadDir(dir); hasName(entries, "big.bin") {
		t.Fatal("big.bin took its own name before it was whole")
	}

	c2 := dialAs(t, h.Addr, "alice-3", id)
	rep, err = get(c2, dir, "big.bin")
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("second Get: %v; %+v", err, rep.Files)
	}
	if r := rep.Files[0]; r.Resumed <= 0 || r.Resumed >= 96<<20 {
		t.Errorf("resumed from byte %d, want somewhere after 0 and before the end", r.Resumed)
	}
	if a, b := hubtest.TreeHashes(t, src)["big.bin"], hubtest.TreeHashes(t, dir)["big.bin"]; a != b {
		t.Errorf("big.bin arrived with SHA-256 %.12s, want %.12s", b, a)
	}
}

func hasName(entries []os.DirEntry, name string) bool {
	for _, e := range entries {
		if e.Name() == name {
			return true
		}
	}
	return false
}

// TestGetNeverWritesOutsideItsFolder: links planted in the hub's folder by
// its operator are not served, and a link in the folder a Get writes to
// is not followed.
func TestGetNeverWritesOutsideItsFolder(t *testing.T) {
	h := hubtest.Start(t, hub.Config{Read: hub.ReadAll})
	alice := dialAs(t, h.Addr, "alice", client.NewIdentity())
	src := hubtest.Testdata(t, "../testdata")
	upload(t, alice, src)
	secret := t.TempDir()
	os.WriteFile(filepath.Join(secret, "secret.txt"), []byte("not for clients"), 0o600)
	outside := t.TempDir()
	for _, link := range []struct{ at, to string }{
		{"testdata/escape", secret},
		{"testdata/nested/secret.txt", filepath.Join(secret, "secret.txt")},
		{"outside", outside},
	} {
		os.Remove(filepath.Join(h.Dir, link.at))
		if err := os.Symlink(link.to, filepath.Join(h.Dir, link.at)); err != nil {
			t.Fatal(err)
		}
	}
	all, err := alice.List(context.Background(), "", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths(all) {
		if strings.Contains(p, "escape") || strings.Contains(p, "secret") || p == "outside" {
			t.Errorf("the listing shows the link %s", p)
		}
	}
	for _, p := range []string{"testdata/escape/secret.txt", "outside", "testdata/nested/secret.txt"} {
		if _, err := get(alice, t.TempDir(), p); codeOf(err) != protocol.CodeNotFound {
			t.Errorf("Get %s: %v, want not found", p, err)
		}
	}
	dir := t.TempDir()
	rep, err := get(alice, dir, "testdata")
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("Get: %v; %+v", err, rep.Files)
	}
	if _, err := os.Stat(filepath.Join(dir, "testdata", "escape")); err == nil {
		t.Error("a link in the hub's folder arrived")
	}

	// The receiving folder holds a link where a folder of the Get goes.
	dir = t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "testdata")); err != nil {
		t.Fatal(err)
	}
	rep, err = get(alice, dir, "testdata")
	if err == nil && rep.Failed() == 0 {
		t.Errorf("Get through a link in its folder: %v; %+v, want it refused", err, rep.Files)
	}
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Errorf("the Get wrote outside its folder: %v", entries)
	}
}

// TestGetTakesOnlyWhatItAskedFor: a hub that offers a Get more than its
// paths name (a .git/hooks/ script, a .ssh/ file into the folder) is
// refused, whatever it offers beside.
func TestGetTakesOnlyWhatItAskedFor(t *testing.T) {
	file := func(p string) protocol.File { return protocol.File{Path: p, Size: 1, Mode: 0o644} }
	for _, tt := range []struct {
		paths []string
		files []protocol.File
		ok    bool
	}{
		{[]string{"docs"}, []protocol.File{{Path: "docs", Dir: true}, file("docs/a.txt")}, true},
		{[]string{"a/b/report.pdf", "logs/"}, []protocol.File{file("report.pdf"), file("logs/x.log")}, true},
		{[]string{"docs"}, []protocol.File{file("docs/a.txt"), file(".git/hooks/post-checkout")}, false},
		{[]string{"docs"}, []protocol.File{file("docs2/a.txt")}, false},
		{[]string{"report.pdf"}, []protocol.File{file(".ssh/authorized_keys")}, false},
		{[]string{""}, []protocol.File{file("anything/at/all")}, true}, // the top: its entries under their own names
	} {
		if err := client.GetAccepts(tt.paths, tt.files); (err == nil) != tt.ok {
			t.Errorf("a get of %q offered %v: %v, want accepted %v", tt.paths, tt.files, err, tt.ok)
		}
	}
}
