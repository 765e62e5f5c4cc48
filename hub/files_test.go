package hub_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// TestListAndGetRefuseWhatIsNotAFileToRead: paths that leave the hub's
// folder, name its own files, or name nothing are refused with a code,
// and the session goes on.
func TestListAndGetRefuseWhatIsNotAFileToRead(t *testing.T) {
	h := hubtest.Start(t, hub.Config{Read: hub.ReadAll})
	os.WriteFile(filepath.Join(h.Dir, "a.txt"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(filepath.Dir(h.Dir), "beside.txt"), []byte("not the hub's"), 0o644)
	c := hubtest.DialConfig(t, h.Addr, client.Config{Name: "mallory", Identity: client.NewIdentity()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := func(err error) string {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return pe.Code
		}
		return ""
	}
	for _, tt := range []struct {
		name  string
		paths []string
		code  string
	}{
		{"parent", []string{"../beside.txt"}, protocol.CodeNotFound},
		{"parent inside", []string{"x/../../beside.txt"}, protocol.CodeNotFound},
		{"absolute", []string{"/etc/passwd"}, protocol.CodeNotFound},
		{"the owners of names", []string{hub.OwnersFile}, protocol.CodeNotFound},
		{"the record of uploads", []string{hub.UploadsFile}, protocol.CodeNotFound},
		{"a part", []string{".muxfer-0123.part"}, protocol.CodeNotFound},
		{"NUL", []string{"a.txt\x00"}, protocol.CodeNotFound},
		{"backslash", []string{`..\beside.txt`}, protocol.CodeNotFound},
		{"nothing there", []string{"nope"}, protocol.CodeNotFound},
		{"no path", nil, protocol.CodeBadMessage},
		{"the same name twice", []string{"a.txt", "./a.txt"}, protocol.CodeBadMessage},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.paths) == 1 {
				if _, err := c.List(ctx, tt.paths[0], true); code(err) != tt.code {
					t.Errorf("List %q: %v, want code %q", tt.paths[0], err, tt.code)
				}
			}
			dir := t.TempDir()
			if _, err := c.Get(ctx, dir, tt.paths, client.GetOptions{}); code(err) != tt.code {
				t.Errorf("Get %q: %v, want code %q", tt.paths, err, tt.code)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("Get %q wrote %v", tt.paths, entries)
			}
		})
	}
	if err := c.Chat("still here"); err != nil || c.Err() != nil {
		t.Fatalf("the session after the refusals: %v, %v", err, c.Err())
	}
	if list, err := c.List(ctx, "", false); err != nil || len(list) != 1 || list[0].Path != "a.txt" {
		t.Errorf("List of the top: %+v, %v; want a.txt alone", list, err)
	}
}

// TestUploadsAreRecordedAcrossRestarts: who uploaded what survives a
// restart of the hub, and a file the operator replaced is nobody's.
func TestUploadsAreRecordedAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	id := client.NewIdentity()
	src := t.TempDir()
	for _, name := range []string{"kept.txt", "replaced.txt"} {
		os.WriteFile(filepath.Join(src, name), []byte(name), 0o644)
	}
	func() {
		h := hubtest.Start(t, hub.Config{Dir: dir})
		c := hubtest.DialConfig(t, h.Addr, client.Config{Name: "alice", Identity: id})
		m, _, err := client.Paths(filepath.Join(src, "kept.txt"), filepath.Join(src, "replaced.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if rep, err := c.Upload(context.Background(), m, transfer.SendOptions{}); err != nil || rep.Failed() > 0 {
			t.Fatalf("Upload: %v %+v", err, rep)
		}
		c.Close()
		h.Close()
	}()
	os.WriteFile(filepath.Join(dir, "replaced.txt"), []byte("the operator's now"), 0o644)
	h := hubtest.Start(t, hub.Config{Dir: dir})
	c := hubtest.DialConfig(t, h.Addr, client.Config{Name: "alice", Identity: id})
	list, err := c.List(context.Background(), "", true)
	if err != nil || len(list) != 1 || list[0].Path != "kept.txt" || list[0].By != "alice" {
		t.Fatalf("alice lists %+v, %v after a restart; want kept.txt, hers", list, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, hub.UploadsFile))
	if strings.Contains(string(b), "replaced.txt") {
		t.Errorf("the record of uploads still names replaced.txt after a restart:\n%s", b)
	}
}

// TestGetsOfOneClientAreBounded: a client that asks for files and never
// answers the offers holds at most 4 gets; the next is refused as busy,
// and leaving frees them.
func TestGetsOfOneClientAreBounded(t *testing.T) {
	h := hubtest.Start(t, hub.Config{Read: hub.ReadAll})
	os.WriteFile(filepath.Join(h.Dir, "a.txt"), []byte("a"), 0o644)
	_, ctrl := rawSession(t, h.Addr)
	if err := sayHello(ctrl, "mallory"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := protocol.WriteMessage(ctrl, protocol.Get{ID: fmt.Sprint("g", i), Paths: []string{"a.txt"}}); err != nil {
			t.Fatal(err)
		}
	}
	ctrl.SetReadDeadline(time.Now().Add(10 * time.Second))
	offers, busy := 0, 0
	for offers+busy < 5 {
		m, err := protocol.ReadMessage(ctrl)
		if err != nil {
			t.Fatalf("after %d offers and %d refusals: %v", offers, busy, err)
		}
		switch m := m.(type) {
		case protocol.Offer:
			if m.Get == "" || len(m.Files) != 1 || m.Files[0].Path != "a.txt" {
				t.Errorf("offer %+v, want a.txt for a get", m)
			}
			offers++
		case protocol.Got:
			if m.Code != protocol.CodeBusy || m.ID != "g4" {
				t.Errorf("got %+v, want the fifth refused as busy", m)
			}
			busy++
		}
	}
	if offers != 4 || busy != 1 {
		t.Errorf("%d offers and %d refusals, want 4 and 1", offers, busy)
	}
}

// TestSharedFolderDoesNotReachThroughALink: a link in a shared folder to
// elsewhere in the hub's folder does not share what it points to.
func TestSharedFolderDoesNotReachThroughALink(t *testing.T) {
	h := hubtest.Start(t, hub.Config{Shared: []string{"pub"}})
	os.MkdirAll(filepath.Join(h.Dir, "pub"), 0o755)
	os.MkdirAll(filepath.Join(h.Dir, "private"), 0o755)
	os.WriteFile(filepath.Join(h.Dir, "private", "secret.txt"), []byte("not shared"), 0o644)
	os.WriteFile(filepath.Join(h.Dir, "pub", "open.txt"), []byte("shared"), 0o644)
	if err := os.Symlink("..", filepath.Join(h.Dir, "pub", "up")); err != nil {
		t.Fatal(err)
	}
	c := hubtest.DialConfig(t, h.Addr, client.Config{Name: "bob", Identity: client.NewIdentity()})
	ctx := context.Background()
	if list, err := c.List(ctx, "pub", true); err != nil || len(list) != 1 || list[0].Path != "pub/open.txt" {
		t.Errorf("List of the shared folder: %+v, %v; want open.txt alone", list, err)
	}
	for _, p := range []string{"pub/up/private/secret.txt", "pub/up/private"} {
		var pe *protocol.Error
		if _, err := c.List(ctx, p, false); !errors.As(err, &pe) || pe.Code != protocol.CodeNotFound {
			t.Errorf("List %s: %v, want not found", p, err)
		}
		if _, err := c.Get(ctx, t.TempDir(), []string{p}, client.GetOptions{}); !errors.As(err, &pe) || pe.Code != protocol.CodeNotFound {
			t.Errorf("Get %s: %v, want not found", p, err)
		}
	}
}
