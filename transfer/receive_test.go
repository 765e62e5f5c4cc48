package transfer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/muxfer/muxfer/protocol"
)

func TestReceiveStoresFileWithContentTimeAndSafeMode(t *testing.T) {
	mask := umask(t)
	mtime := time.Date(2021, 3, 4, 5, 6, 7, 890123456, time.UTC)
	tests := []struct {
		name     string
		path     string
		mode     uint32
		content  []byte
		wantMode fs.FileMode // before the umask
	}{
		{"plain file", "a.txt", 0o644, []byte("hello\n"), 0o644},
		{"nested non-ASCII name with spaces", "dir/sub/ünï 日本 x.txt", 0o640, []byte("unicode"), 0o640},
		{"empty file", "empty", 0o644, nil, 0o644},
		{"larger than one buffer", "big.bin", 0o600, randomBytes(3*bufSize+17, 1), 0o600},
		{"setuid and world-writable dropped", "suid", 0o4777, []byte("x"), 0o775},
		{"setgid dropped", "sgid", 0o2755, []byte("x"), 0o755},
		{"sticky dropped", "sticky", 0o1777, []byte("x"), 0o775},
		{"owner may always read and write", "locked", 0o000, []byte("x"), 0o600},
		{"executable kept", "run.sh", 0o755, []byte("#!/bin/sh\n"), 0o755},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, dir := newTestReceiver(t)
			in := prepare(t, r, "t1", protocol.File{Path: tt.path, Size: int64(len(tt.content)), Mode: tt.mode, MTime: mtime.UnixNano()})
			sum := hashOf(tt.content)
			res, err := in.Receive(protocol.DataHeader{Transfer: "t1", File: 0}, dataStream(t, tt.content, sum))
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			want := protocol.Result{Transfer: "t1", File: 0, Hash: sum, Stored: tt.path}
			if res != want {
				t.Fatalf("Result = %+v, want %+v", res, want)
			}
			p := filepath.Join(dir, filepath.FromSlash(tt.path))
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.content) {
				t.Errorf("content differs: %d bytes, want %d", len(got), len(tt.content))
			}
			info, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if !info.ModTime().Equal(mtime) {
				t.Errorf("mtime %v, want %v", info.ModTime(), mtime)
			}
			if m := info.Mode(); m != tt.wantMode&^mask {
				t.Errorf("mode %v, want %v (%o minus umask %o)", m, tt.wantMode&^mask, tt.wantMode, mask)
			}
			if !in.Done() {
				t.Error("Done = false after the only file")
			}
			if s, want := in.Stats(), (Stats{Stored: 1, Bytes: int64(len(tt.content))}); s != want {
				t.Errorf("Stats = %+v, want %+v", s, want)
			}
			wantTree := []string{tt.path}
			for d := filepath.Dir(tt.path); d != "."; d = filepath.Dir(d) {
				wantTree = append(wantTree, d+"/")
			}
			sort.Strings(wantTree)
			if got := listTree(t, dir); fmt.Sprint(got) != fmt.Sprint(wantTree) {
				t.Errorf("target holds %q, want %q", got, wantTree)
			}
		})
	}
}

func TestReceiveLeavesNothingForABrokenStream(t *testing.T) {
	content := randomBytes(bufSize+1000, 2)
	tests := []struct {
		name   string
		stream func(t *testing.T) io.Reader
		want   string // in Result.Error
	}{
		{"ends before the size", func(*testing.T) io.Reader { return bytes.NewReader(content[:len(content)-1]) }, "stream ended"},
		{"ends at once", func(*testing.T) io.Reader { return strings.NewReader("") }, "stream ended"},
		{"no trailer", func(*testing.T) io.Reader { return bytes.NewReader(content) }, "did not finish"},
		{"wrong hash in trailer", func(t *testing.T) io.Reader { return dataStream(t, content, hashOf([]byte("other"))) }, "hash mismatch"},
		{"hash of other algorithm", func(t *testing.T) io.Reader { return dataStream(t, content, "sha256:00") }, "hash mismatch"},
		{"one byte changed", func(t *testing.T) io.Reader {
			bad := bytes.Clone(content)
			bad[bufSize] ^= 1
			return dataStream(t, bad, hashOf(content))
		}, "hash mismatch"},
		{"bytes beyond the size", func(t *testing.T) io.Reader {
			return io.MultiReader(bytes.NewReader(content), dataStream(t, []byte("extra"), hashOf(content)))
		}, ""},
		{"broken reader", func(*testing.T) io.Reader {
			return io.MultiReader(bytes.NewReader(content[:100]), iotestErrReader{errors.New("connection reset")})
		}, "connection reset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, dir := newTestReceiver(t)
			in := prepare(t, r, "t1",
				protocol.File{Path: "dir", Dir: true, Mode: 0o755},
				protocol.File{Path: "dir/a.bin", Size: int64(len(content)), Mode: 0o644})
			res, err := in.Receive(protocol.DataHeader{Transfer: "t1", File: 1}, tt.stream(t))
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			if res.Error == "" || res.Hash != "" || res.Stored != "" {
				t.Fatalf("Result = %+v, want an error and no hash or name", res)
			}
			if !strings.Contains(res.Error, "dir/a.bin") || !strings.Contains(res.Error, tt.want) {
				t.Errorf("Result.Error = %q, want it to name dir/a.bin and say %q", res.Error, tt.want)
			}
			if got := listTree(t, dir); fmt.Sprint(got) != "[dir/]" {
				t.Errorf("target holds %q, want only the folder", got)
			}
			if s, want := in.Stats(), (Stats{Failed: 1}); s != want || !in.Done() {
				t.Errorf("Stats = %+v, Done %v; want %+v, true", s, in.Done(), want)
			}
		})
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestReceiveNeverOverwritesExistingFile(t *testing.T) {
	tests := []struct {
		path string
		want []string // stored names of the first, second and third copy
	}{
		{"report.txt", []string{"report (1).txt", "report (2).txt", "report (3).txt"}},
		{".bashrc", []string{".bashrc (1)", ".bashrc (2)", ".bashrc (3)"}},
		{"Makefile", []string{"Makefile (1)", "Makefile (2)", "Makefile (3)"}},
		{"dir/archive.tar.gz", []string{"dir/archive.tar (1).gz", "dir/archive.tar (2).gz", "dir/archive.tar (3).gz"}},
		{".config.json", []string{".config (1).json", ".config (2).json", ".config (3).json"}},
		{"ünï 日本.txt", []string{"ünï 日本 (1).txt", "ünï 日本 (2).txt", "ünï 日本 (3).txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r, dir := newTestReceiver(t)
			old := filepath.Join(dir, filepath.FromSlash(tt.path))
			os.MkdirAll(filepath.Dir(old), 0o755)
			if err := os.WriteFile(old, []byte("precious"), 0o644); err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.want {
				id := fmt.Sprintf("t%d", i)
				content := []byte(fmt.Sprintf("copy %d", i))
				in := prepare(t, r, id, protocol.File{Path: tt.path, Size: int64(len(content)), Mode: 0o644})
				res, err := in.Receive(protocol.DataHeader{Transfer: id}, dataStream(t, content, hashOf(content)))
				if err != nil || res.Error != "" {
					t.Fatalf("copy %d: Receive = %+v, %v", i, res, err)
				}
				if res.Stored != want {
					t.Errorf("copy %d stored as %q, want %q", i, res.Stored, want)
				}
				if got, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(res.Stored))); !bytes.Equal(got, content) {
					t.Errorf("%s holds %q, want %q", res.Stored, got, content)
				}
			}
			if got, _ := os.ReadFile(old); string(got) != "precious" {
				t.Errorf("existing %s now holds %q", tt.path, got)
			}
		})
	}
}

func TestReceiveRefusesStreamsThatBreakTheProtocol(t *testing.T) {
	files := []protocol.File{
		{Path: "d", Dir: true},
		{Path: "d/a", Size: 1},
		{Path: "b", Size: 1},
	}
	good := func(t *testing.T) io.Reader { return dataStream(t, []byte("x"), hashOf([]byte("x"))) }
	short := func(*testing.T) io.Reader { return strings.NewReader("") }
	tests := []struct {
		name  string
		prior func(t *testing.T) io.Reader // a stream of the same file before, if any
		file  int
		want  string
	}{
		{"same file twice", good, 1, "twice"},
		{"same file again after it failed", short, 2, "twice"},
		{"index past the end", nil, 3, "no file 3"},
		{"index far past the end", nil, 1 << 30, "no file"},
		{"negative index", nil, -1, "no file -1"},
		{"folder index", nil, 0, "folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, dir := newTestReceiver(t)
			in := prepare(t, r, "t1", files...)
			if tt.prior != nil {
				if _, err := in.Receive(protocol.DataHeader{Transfer: "t1", File: tt.file}, tt.prior(t)); err != nil {
					t.Fatalf("first Receive: %v", err)
				}
			}
			statsBefore, treeBefore := in.Stats(), listTree(t, dir)
			res, err := in.Receive(protocol.DataHeader{Transfer: "t1", File: tt.file}, dataStream(t, []byte("y"), hashOf([]byte("y"))))
			if err == nil {
				t.Fatalf("Receive = %+v, nil; want a protocol error", res)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "t1") {
				t.Errorf("Receive error %q, want it to name transfer t1 and say %q", err, tt.want)
			}
			if res != (protocol.Result{}) {
				t.Errorf("Result = %+v, want none", res)
			}
			if s := in.Stats(); s != statsBefore {
				t.Errorf("Stats went from %+v to %+v", statsBefore, s)
			}
			if got := listTree(t, dir); fmt.Sprint(got) != fmt.Sprint(treeBefore) {
				t.Errorf("target changed from %q to %q", treeBefore, got)
			}
		})
	}
}

// TestReceiveRefusesOffsetItDidNotOffer: a stream may start past byte 0
// only where the receiver's Have said, for a file with a resume token.
func TestReceiveRefusesOffsetItDidNotOffer(t *testing.T) {
	r, dir := newTestReceiver(t)
	content := []byte("0123456789")
	in := prepare(t, r, "t1", protocol.File{Path: "a.txt", Size: 10})
	res, err := in.Receive(protocol.DataHeader{Transfer: "t1", File: 0, Offset: 5}, dataStream(t, content[5:], hashOf(content)))
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if res.Error == "" || !strings.Contains(res.Error, "cannot resume at byte 5") || res.Hash != "" || res.Stored != "" {
		t.Errorf("Result = %+v, want an error about the offset", res)
	}
	if got := listTree(t, dir); len(got) != 0 {
		t.Errorf("target holds %q, want nothing", got)
	}
	if s := in.Stats(); s != (Stats{Failed: 1}) || !in.Done() {
		t.Errorf("Stats = %+v, Done %v; want one failed file, done", s, in.Done())
	}
}

func TestCancelFinishesOnlyAWaitingFile(t *testing.T) {
	files := []protocol.File{
		{Path: "d", Dir: true},
		{Path: "a", Size: 1},
		{Path: "b", Size: 1},
	}
	tests := []struct {
		name      string
		received  []int // files received (successfully) first
		cancel    []int
		wantDone  bool
		wantStats Stats
	}{
		{"the only waiting file", []int{2}, []int{1}, true, Stats{Stored: 1, Failed: 1, Bytes: 1}},
		{"every file", nil, []int{1, 2}, true, Stats{Failed: 2}},
		{"one of two", nil, []int{2}, false, Stats{Failed: 1}},
		{"twice counts once", nil, []int{1, 1}, false, Stats{Failed: 1}},
		{"a file already stored", []int{1}, []int{1}, false, Stats{Stored: 1, Bytes: 1}},
		{"a folder", nil, []int{0}, false, Stats{}},
		{"out of range", nil, []int{-1, 3, 1 << 30}, false, Stats{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newTestReceiver(t)
			in := prepare(t, r, "t1", files...)
			for _, i := range tt.received {
				if res, err := in.Receive(protocol.DataHeader{Transfer: "t1", File: i}, dataStream(t, []byte("x"), hashOf([]byte("x")))); err != nil || res.Error != "" {
					t.Fatalf("Receive %d = %+v, %v", i, res, err)
				}
			}
			for _, i := range tt.cancel {
				in.Cancel(i)
			}
			if in.Done() != tt.wantDone {
				t.Errorf("Done = %v, want %v", in.Done(), tt.wantDone)
			}
			if s := in.Stats(); s != tt.wantStats {
				t.Errorf("Stats = %+v, want %+v", s, tt.wantStats)
			}
		})
	}
}

func TestCancelledFileCannotBeSentAfterwards(t *testing.T) {
	r, dir := newTestReceiver(t)
	in := prepare(t, r, "t1", protocol.File{Path: "a", Size: 1})
	in.Cancel(0)
	if _, err := in.Receive(protocol.DataHeader{Transfer: "t1"}, dataStream(t, []byte("x"), hashOf([]byte("x")))); err == nil {
		t.Error("Receive of a cancelled file succeeded")
	}
	if got := listTree(t, dir); len(got) != 0 {
		t.Errorf("target holds %q", got)
	}
}

func TestPrepareRefusesUnsafeOfferAndCreatesNothing(t *testing.T) {
	r, dir := newTestReceiver(t)
	_, err := r.Prepare(protocol.Offer{Transfer: "t1", Files: []protocol.File{
		{Path: "ok", Dir: true},
		{Path: "ok/sub", Dir: true},
		{Path: "../escape", Dir: true},
	}})
	if err == nil || !strings.Contains(err.Error(), `"../escape"`) {
		t.Errorf("Prepare error = %v, want one naming ../escape", err)
	}
	if got := listTree(t, dir); len(got) != 0 {
		t.Errorf("target holds %q, want nothing", got)
	}
}

func TestPrepareCreatesFoldersWithSafeMode(t *testing.T) {
	mask := umask(t)
	r, dir := newTestReceiver(t)
	in := prepare(t, r, "t1",
		protocol.File{Path: "a", Dir: true, Mode: 0o7777},
		protocol.File{Path: "a/b c", Dir: true, Mode: 0o500},
		protocol.File{Path: "a/b c/ünï", Dir: true, Mode: 0o755})
	if !in.Done() {
		t.Error("an offer of folders only is not done after Prepare")
	}
	for p, want := range map[string]fs.FileMode{"a": 0o775, "a/b c": 0o700, "a/b c/ünï": 0o755} {
		info, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if want := fs.ModeDir | want&^mask; info.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, info.Mode(), want)
		}
	}
}

func TestStatsCountStoredFailedAndBytes(t *testing.T) {
	r, _ := newTestReceiver(t)
	good := randomBytes(5000, 3)
	in := prepare(t, r, "t1",
		protocol.File{Path: "good", Size: int64(len(good))},
		protocol.File{Path: "short", Size: 10},
		protocol.File{Path: "bad hash", Size: 3},
		protocol.File{Path: "cancelled", Size: 7},
		protocol.File{Path: "empty", Size: 0},
		protocol.File{Path: "pending", Size: 1})
	in.Receive(protocol.DataHeader{Transfer: "t1", File: 0}, dataStream(t, good, hashOf(good)))
	in.Receive(protocol.DataHeader{Transfer: "t1", File: 1}, strings.NewReader("abc"))
	in.Receive(protocol.DataHeader{Transfer: "t1", File: 2}, dataStream(t, []byte("abc"), hashOf([]byte("abd"))))
	in.Cancel(3)
	in.Receive(protocol.DataHeader{Transfer: "t1", File: 4}, dataStream(t, nil, hashOf(nil)))
	if s, want := in.Stats(), (Stats{Stored: 2, Failed: 3, Bytes: int64(len(good))}); s != want {
		t.Errorf("Stats = %+v, want %+v", s, want)
	}
	if in.Done() {
		t.Error("Done with a file still pending")
	}
}

func TestNumberedNamesFitInAComponent(t *testing.T) {
	long := strings.Repeat("é", 126) + ".txt" // 252 + 4 bytes: at the limit
	got := numbered("dir/"+long, 12)
	base := got[len("dir/"):]
	if len(base) > MaxComponentLen || !strings.HasSuffix(base, " (12).txt") || !utf8.ValidString(base) {
		t.Errorf("numbered(%d-byte name) = %q (%d bytes)", len(long), base, len(base))
	}
	if got := numbered("a/b.tar.gz", 1); got != "a/b.tar (1).gz" {
		t.Errorf("numbered = %q", got)
	}
}

// TestPlaceNeverReplacesAFile runs place both ways it can work: by one
// rename that refuses to replace (a folder descriptor on Linux) and by a
// hard link and the part's removal (elsewhere, fd -1). Taken names are
// skipped, a link on the file's own name is refused, and nothing that was
// there is touched.
func TestPlaceNeverReplacesAFile(t *testing.T) {
	tests := []struct {
		name     string
		existing []string // files there before
		link     bool     // "a.txt" is a symbolic link
		want     string   // the name given, or the error's text
		wantErr  bool
	}{
		{"free name", nil, false, "a.txt", false},
		{"taken names skipped", []string{"a.txt", "a (1).txt"}, false, "a (2).txt", false},
		{"own name a link", nil, true, `"x/a.txt" is a symbolic link`, true},
	}
	for _, byFd := range []bool{true, false} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s, folder descriptor %v", tt.name, byFd), func(t *testing.T) {
				dir := t.TempDir()
				root, err := os.OpenRoot(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer root.Close()
				folder := dirHandle{Root: root, fd: -1}
				if byFd {
					d, err := root.Open(".")
					if err != nil {
						t.Fatal(err)
					}
					defer d.Close()
					folder.fd = int(d.Fd())
				}
				write := func(name, content string) {
					if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				for _, name := range tt.existing {
					write(name, "old")
				}
				if tt.link {
					write("target", "old")
					if err := os.Symlink("target", filepath.Join(dir, "a.txt")); err != nil {
						t.Fatal(err)
					}
				}
				write("p.part", "new")
				before := listTree(t, dir)
				name, err := place(folder, "p.part", "a.txt", "x/a.txt")
				if tt.wantErr {
					if err == nil || !strings.Contains(err.Error(), tt.want) {
						t.Fatalf("place = %q, %v; want an error saying %s", name, err, tt.want)
					}
					if got := listTree(t, dir); fmt.Sprint(got) != fmt.Sprint(before) {
						t.Errorf("folder holds %q, want %q as before", got, before)
					}
					return
				}
				if err != nil || name != tt.want {
					t.Fatalf("place = %q, %v; want %q", name, err, tt.want)
				}
				got, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil || string(got) != "new" {
					t.Errorf("%s holds %q (%v), want the part's bytes", name, got, err)
				}
				if _, err := os.Lstat(filepath.Join(dir, "p.part")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the part is still there (%v)", err)
				}
				for _, old := range tt.existing {
					if got, _ := os.ReadFile(filepath.Join(dir, old)); string(got) != "old" {
						t.Errorf("%s holds %q, want it untouched", old, got)
					}
				}
			})
		}
	}
}
