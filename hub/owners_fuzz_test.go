package hub

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzOwnersFile reads any owners file: the hub starts, skips what it
// cannot read, and holds no owner of a name that is not clean.
func FuzzOwnersFile(f *testing.F) {
	key := strings.Repeat("ab", 32)
	f.Add([]byte(key + " alice\n"))
	f.Add([]byte(key + " alice\n" + key + " ALICE\nnot a line\n" + key[:10]))
	f.Add([]byte(key + " al ice\n" + key + " \u0430lice\n\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, OwnersFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		o, _, err := openOwners(root, 1000)
		if err != nil {
			if len(b) < 1000 {
				t.Fatalf("refused a short file: %v", err)
			}
			return
		}
		defer o.close()
		for _, on := range o.byKey {
			if clean, err := cleanName(on.name); err != nil || clean != on.name || len(on.pub) != 32 {
				t.Fatalf("holds an owner of %q (%d-byte key)", on.name, len(on.pub))
			}
		}
	})
}
