package transfer

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/muxfer/muxfer/internal/datastream"
	"github.com/muxfer/muxfer/protocol"
)

// hostilePaths are names a malicious or careless sender might offer.
var hostilePaths = []string{
	"a.txt", "dir/sub/ünï 日本.txt", ".bashrc", "a..b/..c", ".muxfer-0123abcd.part", "d/.muxfer-", ".muxfer",
	"", "/etc/passwd", "..", "a/../b", "./a", "a//b", "a/", "a/.",
	"a\x00b", "\x1b[31m", "a\\b", "C:", "c:/x", "a.txt:hidden", "CON", "nul.txt", "PRN .txt",
	"notes.", "dir /a", "invoice\u202egnp.exe", "a\u2066b", "a\xffb",
	"café.txt", "cafe\u0301.txt", "STRASSE", "straße", "ꭰ", "\u212a",
	strings.Repeat("x", MaxComponentLen+1), strings.Repeat("d/", MaxPathLen/2) + "x",
	strings.Repeat("É/", MaxPathDepth-1) + "x", strings.Repeat("d/", MaxPathDepth) + "x",
}

// FuzzCheckPath: whatever CheckPath accepts is a clean relative path that
// stays inside the receiver's directory on any system, and stays accepted;
// whatever it refuses, the error names.
func FuzzCheckPath(f *testing.F) {
	for _, p := range hostilePaths {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if err := CheckPath(p); err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(p)) {
				t.Fatalf("CheckPath(%q) = %q, which does not name the path", p, err)
			}
			return
		}
		if err := CheckPath(p); err != nil {
			t.Fatalf("CheckPath(%q) accepted it once, then said %v", p, err)
		}
		switch {
		case !utf8.ValidString(p):
			t.Fatalf("accepted invalid UTF-8 %q", p)
		case p == "" || strings.HasPrefix(p, "/") || path.IsAbs(p):
			t.Fatalf("accepted %q, which is not relative", p)
		case path.Clean(p) != p:
			t.Fatalf("accepted %q, which cleans to %q", p, path.Clean(p))
		case strings.ContainsAny(p, "\x00\\:"):
			t.Fatalf("accepted %q, which holds a NUL, backslash or colon", p)
		case len(p) > MaxPathLen:
			t.Fatalf("accepted %d bytes, limit %d", len(p), MaxPathLen)
		case strings.Count(p, "/") >= MaxPathDepth:
			t.Fatalf("accepted %d components, limit %d", strings.Count(p, "/")+1, MaxPathDepth)
		case strings.HasPrefix(p, partPrefix) || strings.Contains(p, "/"+partPrefix):
			t.Fatalf("accepted %q, a name kept for the receiver's parts", p)
		}
		for _, r := range p {
			if unicode.Is(unicode.Cc, r) || isBidiControl(r) {
				t.Fatalf("accepted %q, which holds the control character %U", p, r)
			}
		}
		for _, c := range strings.Split(p, "/") {
			if c == "" || c == "." || c == ".." || len(c) > MaxComponentLen {
				t.Fatalf("accepted %q, with the component %q", p, c)
			}
		}
		// The collision checks rely on the key keeping the path's shape: the
		// key of a path is the keys of its names, joined by slashes, so the
		// key of a folder starts the keys of everything below it.
		k, parts := nameKey(p), strings.Split(p, "/")
		for i, c := range parts {
			parts[i] = nameKey(c)
		}
		if joined := strings.Join(parts, "/"); k != joined || nameKey(k) != k {
			t.Fatalf("nameKey(%q) = %q, not the keys of its names %q, or not its own key (%q)", p, k, joined, nameKey(k))
		}
	})
}

// FuzzCheckOffer compares CheckOffer with a slow, separate statement of
// its rules: every path safe, no two keys equal, no file above another
// entry; and, error for error, with CheckOffer as it was, which normalised
// every folder above every entry again (checkOfferEveryParent). paths
// holds one entry per line; bit i of dirs makes entry i a folder.
func FuzzCheckOffer(f *testing.F) {
	f.Add("a\nb/c", uint64(0))
	f.Add("a\na/b", uint64(1))
	f.Add("a\na/b", uint64(0))
	f.Add("café/x\ncafe\u0301", uint64(0))
	f.Add("STRASSE\nstraße", uint64(3))
	f.Add("ꭰ/x\nᎠ/y\nᎠ", uint64(3))
	f.Add("d\nd/e\nd/e/f\n../x", uint64(3))
	f.Add("a/b/c\na\nA/B", uint64(0))
	f.Add("\u1100/\u1161\n\u1100\u1161/x\n\u1100", uint64(0))
	f.Fuzz(func(t *testing.T, paths string, dirs uint64) {
		lines := strings.Split(paths, "\n")
		if len(lines) > 64 {
			return
		}
		o := protocol.Offer{Transfer: "t"}
		for i, p := range lines {
			dir := dirs>>i&1 == 1
			size := int64(1)
			if dir {
				size = 0
			}
			o.Files = append(o.Files, protocol.File{Path: p, Dir: dir, Size: size})
		}
		want := ""
		for i, a := range o.Files {
			if CheckPath(a.Path) != nil {
				want = "unsafe path " + strconv.Quote(a.Path)
				break
			}
			for j, b := range o.Files {
				ka, kb := nameKey(a.Path), nameKey(b.Path)
				switch {
				case i < j && ka == kb:
					want = "collision of " + strconv.Quote(a.Path) + " and " + strconv.Quote(b.Path)
				case !b.Dir && strings.HasPrefix(ka, kb+"/"):
					want = strconv.Quote(a.Path) + " below the file " + strconv.Quote(b.Path)
				}
			}
		}
		err := CheckOffer(o)
		if old := checkOfferEveryParent(o); fmt.Sprint(err) != fmt.Sprint(old) {
			t.Fatalf("CheckOffer(%q) = %v; checking every folder again: %v", lines, err, old)
		}
		switch {
		case err == nil && want != "":
			t.Fatalf("CheckOffer(%q) accepted the offer despite the %s", lines, want)
		case err != nil && want == "":
			t.Fatalf("CheckOffer(%q) = %v for an offer that breaks no rule", lines, err)
		}
	})
}

// FuzzFileStream: whatever bytes arrive on a data stream, the receiver
// answers for each file at most once, stores only offered files under
// their own names with the bytes their trailer vouches for, leaves no part
// behind, and stops.
func FuzzFileStream(f *testing.F) {
	a, b := []byte("abcd"), []byte("012345")
	var good bytes.Buffer
	for i, c := range [][]byte{a, b} {
		protocol.WriteHeader(&good, protocol.DataHeader{Transfer: "t", File: i})
		good.Write(c)
		h := newHash()
		h.Write(c)
		protocol.WriteTrailer(&good, protocol.Trailer{Hash: formatHash(h)})
	}
	f.Add(good.Bytes())
	f.Add(good.Bytes()[:good.Len()/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, stream []byte) {
		r, dir := newTestReceiver(t)
		in, err := r.Prepare(protocol.Offer{Transfer: "t", Files: []protocol.File{
			{Path: "a", Size: int64(len(a)), Mode: 0o644}, {Path: "b", Size: int64(len(b)), Mode: 0o644}}})
		if err != nil {
			t.Fatal(err)
		}
		fs := datastream.NewReader(bytes.NewReader(stream))
		answered := map[int]bool{}
		for range 3 { // two files: a third header is always refused
			h, err := fs.Next()
			if err != nil {
				break
			}
			res, err := in.Receive(h, fs)
			if err != nil {
				break // a protocol error: the hub ends the session
			}
			if answered[res.File] {
				t.Fatalf("file %d answered twice", res.File)
			}
			answered[res.File] = true
		}
		want := map[string][]byte{"a": a, "b": b}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			content, ok := want[e.Name()]
			if !ok {
				t.Fatalf("%q left in the receiver's folder", e.Name())
			}
			if got, err := os.ReadFile(filepath.Join(dir, e.Name())); err != nil || !bytes.Equal(got, content) {
				t.Fatalf("%s stored as %q, %v", e.Name(), got, err)
			}
		}
	})
}
