package transfer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScanFollowsSymlinkArguments: a link named as an argument is
// followed and offered under its own name, as scp and rsync do; a link
// inside a folder is still skipped and reported; a dangling one is an
// error naming it.
func TestScanFollowsSymlinkArguments(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{"real/a.txt": "a", "real/sub/b.txt": "bb", "file.txt": "file"})
	if err := os.Symlink(filepath.Join(src, "file.txt"), filepath.Join(src, "real", "inner")); err != nil {
		t.Fatal(err)
	}
	dirLink, fileLink := filepath.Join(src, "photos"), filepath.Join(src, "notes.txt")
	if err := os.Symlink(filepath.Join(src, "real"), dirLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("file.txt", fileLink); err != nil { // relative, as ln -s makes them
		t.Fatal(err)
	}
	m, skipped, err := Scan(dirLink, fileLink)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	want := []entry{{"photos", 0, true}, {"photos/a.txt", 1, false}, {"photos/sub", 0, true}, {"photos/sub/b.txt", 2, false}, {"notes.txt", 4, false}}
	if fmt.Sprint(entries(m)) != fmt.Sprint(want) {
		t.Errorf("entries:\n got %v\nwant %v", entries(m), want)
	}
	for i, f := range m.Files {
		if f.Dir {
			continue
		}
		b, err := os.ReadFile(m.Local[i])
		if err != nil || int64(len(b)) != f.Size {
			t.Errorf("%s: its source %s reads %q, %v", f.Path, m.Local[i], b, err)
		}
	}
	if len(skipped) != 1 || filepath.Base(skipped[0].Path) != "inner" || !strings.Contains(skipped[0].Reason, "not a regular file") {
		t.Errorf("skipped %v, want the link inside the folder, as not a regular file", skipped)
	}

	dangling := filepath.Join(src, "gone")
	if err := os.Symlink(filepath.Join(src, "no such file"), dangling); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Scan(dangling); err == nil || !strings.HasPrefix(err.Error(), dangling+": ") {
		t.Errorf("Scan(dangling link) = %v, want an error naming it", err)
	}
}
