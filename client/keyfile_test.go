package client_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muxfer/muxfer/client"
)

// TestKeyFileIsMadeOnceAndKeptPrivate: the first call makes a key file
// that only its owner reads, in a private folder; later calls, and calls
// at the same moment, read the same key; a file others can read is
// refused.
func TestKeyFileIsMadeOnceAndKeptPrivate(t *testing.T) {
	dir, err := client.ConfigDir(func(string) string { return t.TempDir() })
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "resume.key")
	const at = 8
	keys := make(chan string, at)
	made := make(chan bool, at)
	for range at {
		go func() {
			text, created, err := client.KeyFile(path)
			if err != nil {
				text = "error: " + err.Error()
			}
			keys <- text
			made <- created
		}()
	}
	first, creators := <-keys, 0
	if <-made {
		creators++
	}
	for range at - 1 {
		if k := <-keys; k != first {
			t.Errorf("two callers got %q and %q", first, k)
		}
		if <-made {
			creators++
		}
	}
	if _, err := client.ParseKey(first); err != nil || creators != 1 {
		t.Fatalf("key %q (%v), made by %d callers; want a key made once", first, err, creators)
	}
	if again, created, err := client.KeyFile(path); again != first || created || err != nil {
		t.Errorf("later: %q, %v, %v; want the same key, not made", again, created, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the folder holds %v, want the key file alone", entries)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		if info, err := os.Stat(p); err != nil || info.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want mode %04o", p, info.Mode(), err, want)
		}
	}
	os.Chmod(path, 0o640)
	if _, _, err := client.KeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a key file others can read: %v, want a refusal that says chmod 600", err)
	}
}
