package transfer

import (
	"bytes"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/muxfer/muxfer/protocol"
)

// Helpers shared by the receiver, sender and benchmark tests.

// newTestReceiver returns a receiver storing under a fresh temporary
// directory, and that directory.
func newTestReceiver(t testing.TB) (*Receiver, string) {
	t.Helper()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return NewReceiver(root), dir
}

func hashOf(b []byte) string {
	h := newHash()
	h.Write(b)
	return formatHash(h)
}

// dataStream is what follows a data header on the wire: the file's bytes,
// then a trailer frame carrying hash.
func dataStream(t testing.TB, content []byte, hash string) io.Reader {
	t.Helper()
	var b bytes.Buffer
	b.Write(content)
	if err := protocol.WriteTrailer(&b, protocol.Trailer{Hash: hash}); err != nil {
		t.Fatal(err)
	}
	return &b
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

// umask reports the process umask without changing it, by creating a file.
func umask(t *testing.T) fs.FileMode {
	t.Helper()
	p := filepath.Join(t.TempDir(), "probe")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o777)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return 0o777 &^ info.Mode().Perm()
}

// listTree returns every path under dir, slash-separated, folders with a
// trailing slash, sorted.
func listTree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func prepare(t testing.TB, r *Receiver, id string, files ...protocol.File) *Incoming {
	t.Helper()
	in, err := r.Prepare(protocol.Offer{Transfer: id, Files: files})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return in
}
