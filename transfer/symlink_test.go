package transfer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muxfer/muxfer/protocol"
)

// A symbolic link that someone with access to the receiver's directory
// plants there must never be written through, followed or replaced, even
// one that points inside the directory: the os.Root keeps the receiver
// inside, and the checks keep it off the link.

// linkSite is a receiver's directory holding a folder "real" with a file
// "victim", and another folder outside it holding the same, so that a link
// planted in the directory can point at either.
type linkSite struct {
	r       *Receiver
	dir     string // the receiver's directory
	outside string // a folder outside it
}

func newLinkSite(t *testing.T) *linkSite {
	t.Helper()
	r, dir := newTestReceiver(t)
	s := &linkSite{r: r, dir: dir, outside: t.TempDir()}
	for _, d := range []string{filepath.Join(dir, "real"), s.outside} {
		writeTree(t, d, map[string]string{"victim": "victim"})
	}
	return s
}

// linkTarget is what a planted link points at.
type linkTarget int

const (
	folderOutside linkTarget = iota
	folderInside
	fileOutside
	fileInside
)

func (k linkTarget) String() string {
	return [...]string{"a folder outside", "a folder inside", "a file outside", "a file inside"}[k]
}

// plant makes name in the receiver's directory a symbolic link to k.
// Links inside are relative, as a careful attacker would make them.
func (s *linkSite) plant(t *testing.T, name string, k linkTarget) {
	t.Helper()
	up := strings.Repeat("../", strings.Count(name, "/"))
	target := map[linkTarget]string{
		folderOutside: s.outside,
		folderInside:  up + "real",
		fileOutside:   filepath.Join(s.outside, "victim"),
		fileInside:    up + "real/victim",
	}[k]
	if err := os.Symlink(target, filepath.Join(s.dir, filepath.FromSlash(name))); err != nil {
		t.Fatal(err)
	}
}

// untouched checks that the link is still there, pointing where it did,
// that the files it could reach hold what they held, and that the
// receiver's directory holds what it held before (want).
func (s *linkSite) untouched(t *testing.T, link string, want []string) {
	t.Helper()
	p := filepath.Join(s.dir, filepath.FromSlash(link))
	if info, err := os.Lstat(p); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the planted link %s was replaced or removed (%v)", link, err)
	}
	for _, v := range []string{filepath.Join(s.dir, "real", "victim"), filepath.Join(s.outside, "victim")} {
		if got, err := os.ReadFile(v); err != nil || string(got) != "victim" {
			t.Errorf("%s now holds %q (%v)", v, got, err)
		}
	}
	if got := listTree(t, s.outside); fmt.Sprint(got) != "[victim]" {
		t.Errorf("outside the target: %q, want only the victim", got)
	}
	if got := listTree(t, s.dir); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the target holds %q, want %q", got, want)
	}
}

func TestPrepareRefusesOfferThroughPlantedSymlink(t *testing.T) {
	file := func(p string) protocol.File { return protocol.File{Path: p, Size: 3, Mode: 0o644} }
	dir := func(p string) protocol.File { return protocol.File{Path: p, Dir: true, Mode: 0o755} }
	tests := []struct {
		name   string
		link   string // planted, relative to the target
		points linkTarget
		files  []protocol.File
	}{
		{"file under a link to a folder outside", "evil", folderOutside, []protocol.File{file("evil/x")}},
		{"file under a link to a folder inside", "evil", folderInside, []protocol.File{file("evil/x")}},
		{"file deep under a link", "evil", folderInside, []protocol.File{file("evil/a/b/x")}},
		{"folder entry that is a link", "evil", folderOutside, []protocol.File{dir("evil"), file("evil/x")}},
		{"folder below a link", "evil", folderInside, []protocol.File{dir("evil/sub")}},
		{"link below a real folder", "real/evil", folderOutside, []protocol.File{file("real/evil/x")}},
		{"file named exactly as a link to a file outside", "evil", fileOutside, []protocol.File{file("evil")}},
		{"file named exactly as a link to a file inside", "evil", fileInside, []protocol.File{file("evil")}},
		{"file named exactly as a link to a folder", "evil", folderInside, []protocol.File{file("evil")}},
		{"link reached after safe entries", "evil", folderInside, []protocol.File{dir("ok"), dir("ok/sub"), file("ok/a"), file("evil/x")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLinkSite(t)
			s.plant(t, tt.link, tt.points)
			before := listTree(t, s.dir)
			_, err := s.r.Prepare(protocol.Offer{Transfer: "t1", Files: tt.files})
			if err == nil {
				t.Fatalf("Prepare accepted an offer through a link to %v", tt.points)
			}
			if want := fmt.Sprintf("%q is a symbolic link", tt.link); !strings.Contains(err.Error(), want) {
				t.Errorf("Prepare error %q, want it to say %s", err, want)
			}
			s.untouched(t, tt.link, before)
			if p := s.r.Promised(); p != 0 {
				t.Errorf("%d bytes still promised after a refusal", p)
			}
		})
	}
}

// A link planted after the offer was accepted, on a file's folder or on
// its own name, is refused when the file arrives: the file fails, and
// neither the link nor what it points at is touched.
func TestReceiveRefusesSymlinkPlantedAfterPrepare(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		link   string
		points linkTarget
	}{
		{"folder linked outside", "d/x", "d", folderOutside},
		{"folder linked inside", "d/x", "d", folderInside},
		{"grandparent linked inside", "d/e/x", "d", folderInside},
		{"final name linked to a file outside", "x", "x", fileOutside},
		{"final name linked to a file inside", "x", "x", fileInside},
		{"final name linked to a folder inside", "x", "x", folderInside},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLinkSite(t)
			content := []byte("bad")
			in := prepare(t, s.r, "t1", protocol.File{Path: tt.file, Size: int64(len(content)), Mode: 0o644})
			s.plant(t, tt.link, tt.points)
			before := listTree(t, s.dir)
			res, err := in.Receive(protocol.DataHeader{Transfer: "t1"}, dataStream(t, content, hashOf(content)))
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			want := fmt.Sprintf("%q is a symbolic link", tt.link)
			if res.Error == "" || res.Stored != "" || !strings.Contains(res.Error, tt.file) || !strings.Contains(res.Error, want) {
				t.Errorf("Result = %+v, want an error naming %s and saying %s", res, tt.file, want)
			}
			s.untouched(t, tt.link, before)
			if p := s.r.Promised(); p != 0 {
				t.Errorf("%d bytes still promised after the file failed", p)
			}
		})
	}
}

// Folders made by the receiver itself are not links, and an existing real
// folder is used as it is: the checks refuse links, not existing names.
func TestPrepareUsesExistingRealFolders(t *testing.T) {
	s := newLinkSite(t)
	in := prepare(t, s.r, "t1",
		protocol.File{Path: "real", Dir: true},
		protocol.File{Path: "real/new", Dir: true},
		protocol.File{Path: "real/victim", Size: 1})
	res, err := in.Receive(protocol.DataHeader{Transfer: "t1", File: 2}, dataStream(t, []byte("y"), hashOf([]byte("y"))))
	if err != nil || res.Error != "" || res.Stored != "real/victim (1)" {
		t.Errorf("Receive = %+v, %v; want it stored as real/victim (1)", res, err)
	}
}
