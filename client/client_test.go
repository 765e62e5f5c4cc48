package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startHub runs a hub on 127.0.0.1:0 with its own directory until the test
// ends.
func startHub(t *testing.T) (addr, dir string, h *hub.Hub) {
	t.Helper()
	dir = t.TempDir()
	h, err := hub.New(hub.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- h.Serve(ln) }()
	t.Cleanup(func() {
		h.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), dir, h
}

func dial(t *testing.T, addr, name string, onMsg func(protocol.Message)) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Config{Name: name, OnMessage: onMsg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// treeHashes maps each regular file under root (by slash path) to its
// SHA-256, and each folder to "dir".
func treeHashes(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			out[rel] = "dir"
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		io.Copy(h, f)
		out[rel] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// copyTestdata copies ../testdata into a temporary folder and adds what
// git cannot hold: an empty folder.
func copyTestdata(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "testdata")
	if err := os.CopyFS(dst, os.DirFS("../testdata")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dst, "empty folder", "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestUploadTestdataArrivesIntact(t *testing.T) {
	addr, dir, _ := startHub(t)
	src := copyTestdata(t)
	c := dial(t, addr, "alice", nil)
	m, skipped, err := transfer.Scan(src)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("Scan: %v, skipped %v", err, skipped)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := c.Upload(ctx, m, transfer.SendOptions{Parallel: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() != 0 {
		t.Fatalf("failed files: %+v", rep.Files)
	}
	want := treeHashes(t, src)
	got := treeHashes(t, filepath.Join(dir, "testdata"))
	for p, h := range want {
		if got[p] != h {
			t.Errorf("%s: got %q, want %q", p, got[p], h)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("unexpected %s in hub directory", p)
		}
	}
}
