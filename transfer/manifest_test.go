package transfer

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/muxfer/muxfer/protocol"
)

// writeTree creates files under dir: a name ending in "/" is a folder, any
// other name a file with the given content.
func writeTree(t testing.TB, dir string, tree map[string]string) {
	t.Helper()
	for name, content := range tree {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// entry is the part of a protocol.File that Scan derives from names and
// sizes; mode and mtime are checked separately.
type entry struct {
	Path string
	Size int64
	Dir  bool
}

func entries(m *Manifest) []entry {
	out := make([]entry, len(m.Files))
	for i, f := range m.Files {
		out[i] = entry{f.Path, f.Size, f.Dir}
	}
	return out
}

func TestScanNamesEntriesLikeScpR(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"photos/a.txt":                "hello",
		"photos/empty.txt":            "",
		"photos/empty folder/":        "",
		"photos/sub/ünï 日本.txt":       "unicode",
		"photos/sub/deeper/x y z.bin": "0123456789",
		"elsewhere/single file.txt":   "single",
		"elsewhere/not sent.txt":      "no",
	})
	tests := []struct {
		name string
		args []string
		want []entry
	}{
		{
			name: "a file arrives under its base name",
			args: []string{filepath.Join(src, "elsewhere", "single file.txt")},
			want: []entry{{"single file.txt", 6, false}},
		},
		{
			name: "a folder arrives as folder and everything under it",
			args: []string{filepath.Join(src, "photos")},
			want: []entry{
				{"photos", 0, true},
				{"photos/a.txt", 5, false},
				{"photos/empty folder", 0, true},
				{"photos/empty.txt", 0, false},
				{"photos/sub", 0, true},
				{"photos/sub/deeper", 0, true},
				{"photos/sub/deeper/x y z.bin", 10, false},
				{"photos/sub/ünï 日本.txt", 7, false},
			},
		},
		{
			name: "a folder with a trailing slash and a file, in argument order",
			args: []string{filepath.Join(src, "photos", "sub") + "/", filepath.Join(src, "photos", "a.txt")},
			want: []entry{
				{"sub", 0, true},
				{"sub/deeper", 0, true},
				{"sub/deeper/x y z.bin", 10, false},
				{"sub/ünï 日本.txt", 7, false},
				{"a.txt", 5, false},
			},
		},
		{
			name: "an empty folder",
			args: []string{filepath.Join(src, "photos", "empty folder")},
			want: []entry{{"empty folder", 0, true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, skipped, err := Scan(tt.args...)
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if len(skipped) != 0 {
				t.Errorf("skipped %v, want none", skipped)
			}
			got := entries(m)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("entries:\n got %v\nwant %v", got, tt.want)
			}
			checkLocal(t, m)
		})
	}
}

// checkLocal checks that each entry's Local source has the entry's size,
// permission bits and modification time.
func checkLocal(t *testing.T, m *Manifest) {
	t.Helper()
	if len(m.Local) != len(m.Files) {
		t.Fatalf("%d local paths for %d entries", len(m.Local), len(m.Files))
	}
	for i, f := range m.Files {
		info, err := os.Lstat(m.Local[i])
		if err != nil {
			t.Errorf("entry %q: %v", f.Path, err)
			continue
		}
		local := filepath.ToSlash(filepath.Clean(m.Local[i]))
		if top, rest, nested := strings.Cut(f.Path, "/"); nested && !strings.HasSuffix(local, "/"+rest) || !nested && path.Base(local) != top {
			t.Errorf("entry %q comes from %s", f.Path, m.Local[i])
		}
		if info.IsDir() != f.Dir || !f.Dir && info.Size() != f.Size {
			t.Errorf("entry %q: dir %v size %d, local dir %v size %d", f.Path, f.Dir, f.Size, info.IsDir(), info.Size())
		}
		if f.Mode != uint32(info.Mode().Perm()) {
			t.Errorf("entry %q: mode %o, local %o", f.Path, f.Mode, info.Mode().Perm())
		}
		if f.MTime != info.ModTime().UnixNano() {
			t.Errorf("entry %q: mtime %d, local %d", f.Path, f.MTime, info.ModTime().UnixNano())
		}
	}
}

func TestScanSkipsAndReportsWhatCannotBeSent(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"dir/keep.txt":    "keep",
		"dir/CON":         "a device name on Windows",
		"dir/a:b/x.txt":   "under a refused folder",
		"dir/esc\x1b.txt": "control character",
	})
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"secret.txt": "secret"})
	if err := os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(src, "dir", "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(src, "dir", "linkdir")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(src, "dir", "fifo"), 0o644); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	m, skipped, err := Scan(filepath.Join(src, "dir"))
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	want := []entry{{"dir", 0, true}, {"dir/keep.txt", 4, false}}
	if fmt.Sprint(entries(m)) != fmt.Sprint(want) {
		t.Errorf("entries:\n got %v\nwant %v", entries(m), want)
	}
	reasons := map[string]string{}
	for _, s := range skipped {
		reasons[filepath.Base(s.Path)] = s.Reason
	}
	wantSkipped := map[string]string{
		"link.txt":    "not a regular file",
		"linkdir":     "not a regular file",
		"fifo":        "not a regular file",
		"CON":         "reserved device name",
		"a:b":         "colon",
		"esc\x1b.txt": "control character",
	}
	for name, reason := range wantSkipped {
		got, ok := reasons[name]
		switch {
		case !ok:
			t.Errorf("%q not reported as skipped (skipped: %v)", name, skipped)
		case !strings.Contains(got, reason):
			t.Errorf("%q skipped because %q, want a reason mentioning %q", name, got, reason)
		}
	}
	if len(skipped) != len(wantSkipped) {
		t.Errorf("skipped %d paths, want %d: %v", len(skipped), len(wantSkipped), skipped)
	}
}

func TestScanRefusesArguments(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"x/a.txt":            "1",
		"y/a.txt":            "2",
		"y/A.TXT":            "3",
		"z/x/b.txt":          "4",
		"x/café.txt":         "5",
		"nfd/cafe\u0301.txt": "6",
	})
	missing := filepath.Join(src, "no such file.txt")
	tests := []struct {
		name string
		args []string
		want []string // each in the error
	}{
		{"missing path", []string{missing}, []string{missing, "no such file"}},
		{"missing path after a good one", []string{filepath.Join(src, "x"), missing}, []string{missing}},
		{"two files with one base name", []string{filepath.Join(src, "x", "a.txt"), filepath.Join(src, "y", "a.txt")}, []string{filepath.Join(src, "x", "a.txt"), filepath.Join(src, "y", "a.txt"), `"a.txt"`}},
		{"base names differing in case", []string{filepath.Join(src, "x", "a.txt"), filepath.Join(src, "y", "A.TXT")}, []string{`"A.TXT"`}},
		{"base names differing in normalisation", []string{filepath.Join(src, "x", "café.txt"), filepath.Join(src, "nfd", "cafe\u0301.txt")}, []string{filepath.Join(src, "x", "café.txt"), filepath.Join(src, "nfd", "cafe\u0301.txt")}},
		{"two folders with one base name", []string{filepath.Join(src, "x"), filepath.Join(src, "z", "x")}, []string{`"x"`}},
		{"the file system root", []string{"/"}, []string{"root"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _, err := Scan(tt.args...)
			if err == nil {
				t.Fatalf("Scan = %v, want an error", entries(m))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Scan error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestManifestTotalsCountsFilesNotFolders(t *testing.T) {
	m := &Manifest{Files: []protocol.File{
		{Path: "d", Dir: true},
		{Path: "d/a", Size: 10},
		{Path: "d/e", Dir: true},
		{Path: "d/b", Size: 0},
		{Path: "c", Size: 5},
	}}
	if files, bytes := m.Totals(); files != 3 || bytes != 15 {
		t.Errorf("Totals = %d files, %d bytes; want 3, 15", files, bytes)
	}
}

// splitCases are manifests that split must cut into offers of bounded size.
var splitCases = []struct {
	name    string
	entries int
	path    func(i int) string
}{
	{"empty", 0, nil},
	{"one entry", 1, func(int) string { return "a.txt" }},
	{"30,000 long names", 30000, func(i int) string {
		// Lengths vary so that pieces end with different slack; some
		// characters grow when JSON-escaped.
		return fmt.Sprintf("folder %d/%s<&>\u2028 ünï %d.txt", i%97, strings.Repeat("n", 100+i%150), i)
	}},
	{"more than MaxFiles short names", MaxFiles + 10, func(i int) string { return fmt.Sprint(i) }},
}

func splitManifest(entries int, name func(int) string) *Manifest {
	m := &Manifest{}
	for i := range entries {
		m.add(fmt.Sprintf("/local/%d", i), protocol.File{Path: name(i), Size: int64(i), Mode: 0o644, MTime: 1700000000123456789 + int64(i)})
	}
	return m
}

func encodedOffer(t *testing.T, p *Manifest) []byte {
	t.Helper()
	b, err := protocol.Encode(protocol.Offer{Transfer: newTransferID(), Files: p.Files})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSplitKeepsAllEntriesInOrderInOffersThatFitAFrame(t *testing.T) {
	for _, tt := range splitCases {
		t.Run(tt.name, func(t *testing.T) {
			m := splitManifest(tt.entries, tt.path)
			pieces := m.split()
			if len(pieces) == 0 {
				t.Fatal("split returned no piece")
			}
			if tt.entries > 10000 && len(pieces) < 2 {
				t.Errorf("%d entries in one piece", tt.entries)
			}
			next := 0
			for n, p := range pieces {
				if len(p.Files) != len(p.Local) {
					t.Fatalf("piece %d: %d entries, %d local paths", n, len(p.Files), len(p.Local))
				}
				if len(p.Files) > MaxFiles {
					t.Errorf("piece %d: %d entries, limit %d", n, len(p.Files), MaxFiles)
				}
				if b := encodedOffer(t, p); len(b) > protocol.MaxControlFrame {
					t.Errorf("piece %d: offer is %d bytes, limit %d", n, len(b), protocol.MaxControlFrame)
				}
				for i, f := range p.Files {
					if f != m.Files[next] || p.Local[i] != m.Local[next] {
						t.Fatalf("piece %d entry %d is %q from %s, want entry %d %q from %s", n, i, f.Path, p.Local[i], next, m.Files[next].Path, m.Local[next])
					}
					next++
				}
			}
			if next != len(m.Files) {
				t.Errorf("pieces hold %d entries, manifest %d", next, len(m.Files))
			}
		})
	}
}

// split's budget is half a control frame, leaving room for growth; an
// offer should stay within it, envelope included.
func TestSplitKeepsEveryOfferUnderHalfAControlFrame(t *testing.T) {
	const budget = protocol.MaxControlFrame / 2
	for _, tt := range splitCases {
		t.Run(tt.name, func(t *testing.T) {
			pieces := splitManifest(tt.entries, tt.path).split()
			over, largest := 0, 0
			for _, p := range pieces {
				n := len(encodedOffer(t, p))
				largest = max(largest, n)
				if n > budget {
					over++
				}
			}
			if over > 0 {
				t.Errorf("%d of %d offers exceed %d bytes; the largest is %d bytes", over, len(pieces), budget, largest)
			}
		})
	}
}
