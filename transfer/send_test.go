package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sendTree is the source tree most end-to-end tests send: nested folders,
// an empty file and folder, names with spaces and non-ASCII, and a file
// spanning several I/O buffers.
func sendTree(t testing.TB) (src string, args []string) {
	t.Helper()
	src = t.TempDir()
	writeTree(t, src, map[string]string{
		"photos/a.txt":          "hello",
		"photos/empty.txt":      "",
		"photos/empty folder/":  "",
		"photos/sub/ünï 日本.txt": "unicode",
		"photos/sub/big.bin":    string(randomBytes(4*bufSize+3, 7)),
		"notes with spaces.md":  "# notes\n",
	})
	return src, []string{filepath.Join(src, "photos"), filepath.Join(src, "notes with spaces.md")}
}

func scan(t testing.TB, args ...string) *Manifest {
	t.Helper()
	m, skipped, err := Scan(args...)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("Scan: %v, skipped %v", err, skipped)
	}
	return m
}

func send(t testing.TB, c Conn, m *Manifest, opt SendOptions) (*Report, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	return Send(ctx, c, m, opt)
}

// expectedTree lists what a receiver holds after storing every entry of m
// under its own name, in the form listTree returns.
func expectedTree(m *Manifest) []string {
	set := map[string]bool{}
	for _, f := range m.Files {
		if f.Dir {
			set[f.Path+"/"] = true
		} else {
			set[f.Path] = true
		}
		for d := path.Dir(f.Path); d != "."; d = path.Dir(d) {
			set[d+"/"] = true
		}
	}
	var out []string
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func reportsByPath(t testing.TB, rep *Report) map[string]FileReport {
	t.Helper()
	out := map[string]FileReport{}
	for _, f := range rep.Files {
		if _, dup := out[f.Path]; dup {
			t.Errorf("%s reported twice", f.Path)
		}
		out[f.Path] = f
	}
	return out
}

// onlyFoldersAndParts reports whether tree holds nothing under a final
// name: folders, and parts kept for a resume.
func onlyFoldersAndParts(tree []string) bool {
	for _, p := range tree {
		if !strings.HasSuffix(p, "/") && !isPartName(path.Base(p)) {
			return false
		}
	}
	return true
}

func TestSendDeliversEveryFileVerifiedByBothEnds(t *testing.T) {
	tests := []struct {
		name     string
		parallel int
		args     func(src string, tree []string) []string
	}{
		{"one file", 0, func(src string, _ []string) []string { return []string{filepath.Join(src, "photos", "a.txt")} }},
		{"one empty file", 0, func(src string, _ []string) []string { return []string{filepath.Join(src, "photos", "empty.txt")} }},
		{"only an empty folder", 0, func(src string, _ []string) []string { return []string{filepath.Join(src, "photos", "empty folder")} }},
		{"tree, default parallelism", 0, func(_ string, args []string) []string { return args }},
		{"tree, one file at a time", 1, func(_ string, args []string) []string { return args }},
		{"tree, more workers than files", 32, func(_ string, args []string) []string { return args }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, args := sendTree(t)
			m := scan(t, tt.args(src, args)...)
			c, h := startPair(t, hubOptions{})
			files, size := m.Totals()

			var started, opened, finished atomic.Int32
			var wrote atomic.Int64
			opt := SendOptions{Parallel: tt.parallel, Observer: Observer{
				Started: func(n int, b int64) {
					started.Add(1)
					if n != files || b != size {
						t.Errorf("Started(%d, %d), want (%d, %d)", n, b, files, size)
					}
				},
				Opened:   func(string) { opened.Add(1) },
				Wrote:    func(n int) { wrote.Add(int64(n)) },
				Finished: func(FileReport) { finished.Add(1) },
			}}
			rep, err := send(t, c, m, opt)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			checkDelivered(t, m, rep, h.dir)
			if started.Load() != 1 || opened.Load() != int32(files) || finished.Load() != int32(files) || wrote.Load() != size {
				t.Errorf("Observer saw %d starts, %d opens, %d finishes, %d bytes; want 1, %d, %d, %d",
					started.Load(), opened.Load(), finished.Load(), wrote.Load(), files, files, size)
			}
			if s, want := h.waitFinished(t), (Stats{Stored: files, Bytes: size}); s != want {
				t.Errorf("receiver's Stats = %+v, want %+v", s, want)
			}
		})
	}
}

// checkDelivered checks that every file of m is reported verified, with the
// hash of its local content, and arrived intact in dir under its own name.
func checkDelivered(t *testing.T, m *Manifest, rep *Report, dir string) {
	t.Helper()
	files, size := m.Totals()
	if rep.Failed() != 0 || len(rep.Files) != files || rep.Bytes != size {
		t.Errorf("Report: %d files, %d failed, %d bytes; want %d, 0, %d", len(rep.Files), rep.Failed(), rep.Bytes, files, size)
	}
	byPath := reportsByPath(t, rep)
	dirs := 0
	for i, f := range m.Files {
		if f.Dir {
			dirs++
			continue
		}
		local, err := os.ReadFile(m.Local[i])
		if err != nil {
			t.Fatal(err)
		}
		r := byPath[f.Path]
		if !r.OK() || r.Hash != hashOf(local) || r.Stored != f.Path || r.Size != f.Size {
			t.Errorf("%s: report %+v, want OK, stored under its own name, hash %s", f.Path, r, hashOf(local))
		}
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Errorf("%s: %v", f.Path, err)
		} else if !bytes.Equal(got, local) {
			t.Errorf("%s: received %d bytes that differ from the %d sent", f.Path, len(got), len(local))
		}
	}
	if rep.Dirs != dirs {
		t.Errorf("Report.Dirs = %d, want %d", rep.Dirs, dirs)
	}
	if got, want := listTree(t, dir), expectedTree(m); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("receiver holds\n%q\nwant\n%q", got, want)
	}
}

func TestSendReturnsReceiversRefusalAndSendsNothing(t *testing.T) {
	tests := []struct {
		name   string
		opt    hubOptions
		plant  bool   // a symlink "photos" in the target points elsewhere
		reason string // in the error
	}{
		{"receiver says no", hubOptions{reject: "disk full"}, false, "disk full"},
		{"receiver cannot create a folder", hubOptions{}, true, "photos"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, args := sendTree(t)
			m := scan(t, args...)
			c, h := startPair(t, tt.opt)
			if tt.plant {
				if err := os.Symlink(t.TempDir(), filepath.Join(h.dir, "photos")); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := send(t, c, m, SendOptions{})
			if err == nil {
				t.Fatal("Send succeeded, want the refusal")
			}
			if !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Send error %q, want it to say refused and %q", err, tt.reason)
			}
			files, _ := m.Totals()
			if len(rep.Files) != files || rep.Failed() != files || rep.Bytes != 0 {
				t.Errorf("Report: %d files, %d failed, %d bytes; want %d files all failed", len(rep.Files), rep.Failed(), rep.Bytes, files)
			}
			for _, f := range rep.Files {
				if !strings.Contains(f.Err, "not sent") || !strings.Contains(f.Err, tt.reason) {
					t.Errorf("%s: error %q, want not sent with the reason", f.Path, f.Err)
				}
			}
			h.stop()
			if got := listTree(t, h.dir); len(got) > 1 || len(got) == 1 && !tt.plant {
				t.Errorf("receiver holds %q after a refusal", got)
			}
		})
	}
}

func TestSendFailsWithConnectionLostWhenReceiverGoesAway(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"dir/a-big.bin": string(randomBytes(16<<20, 8)),
		"dir/b.txt":     "b",
		"dir/c.txt":     "c",
	})
	m := scan(t, filepath.Join(src, "dir"))
	c, h := startPair(t, hubOptions{cutAfter: 1 << 20})
	key := []byte("the same key for both tries")
	rep, err := send(t, c, m, SendOptions{Parallel: 1, ResumeKey: key})
	if !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("Send error = %v, want ErrConnectionLost; report %+v", err, rep.Files)
	}
	if !strings.Contains(err.Error(), "dir/") {
		t.Errorf("Send error %q names no file", err)
	}
	if len(rep.Files) != 3 || rep.Failed() != 3 {
		t.Errorf("Report: %d files, %d failed; want 3 files all failed: %+v", len(rep.Files), rep.Failed(), rep.Files)
	}
	for _, f := range rep.Files {
		// The other two were offered, and never started.
		if f.Status != Unconfirmed && (f.Path == "dir/a-big.bin" || f.Status != NotSent) {
			t.Errorf("%s: status %q, want it unconfirmed or not sent", f.Path, f.Status)
		}
	}
	h.stop() // wait for the stream being stored to give up
	got := listTree(t, h.dir)
	if !onlyFoldersAndParts(got) || len(got) != 2 {
		t.Fatalf("receiver holds %q after the connection was cut, want the folder and one part", got)
	}

	// Sending again over a new connection resumes the big file where the
	// receiver holds it, and delivers the rest.
	c2, h2 := startPair(t, hubOptions{recv: h.recv})
	rep, err = send(t, c2, m, SendOptions{Parallel: 1, ResumeKey: key})
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("second Send: %v; report %+v", err, rep.Files)
	}
	if r := reportsByPath(t, rep)["dir/a-big.bin"]; r.Resumed < 1<<20-bufSize || r.Resumed >= 16<<20 {
		t.Errorf("dir/a-big.bin resumed from %d, want from about 1 MiB", r.Resumed)
	}
	h2.stop()
	checkDelivered(t, m, rep, h.dir)
}

func TestSendReportsFileChangedSinceScan(t *testing.T) {
	tests := []struct {
		name   string
		change func(p string) error
		want   string
	}{
		{"truncated", func(p string) error { return os.Truncate(p, 1) }, "changed"},
		{"appended to", func(p string) error {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteString("more")
			return err
		}, "changed"},
		{"rewritten at the same size", func(p string) error {
			if err := os.WriteFile(p, []byte("CHANGED"), 0o644); err != nil {
				return err
			}
			old := time.Now().Add(-time.Hour) // a coarse clock could repeat the time
			return os.Chtimes(p, old, old)
		}, "changed"},
		{"removed", os.Remove, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := t.TempDir()
			writeTree(t, src, map[string]string{"dir/a.txt": "a", "dir/b.txt": "changed", "dir/c.txt": "c"})
			m := scan(t, filepath.Join(src, "dir"))
			if err := tt.change(filepath.Join(src, "dir", "b.txt")); err != nil {
				t.Fatal(err)
			}
			c, h := startPair(t, hubOptions{})
			rep, err := send(t, c, m, SendOptions{})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			byPath := reportsByPath(t, rep)
			for _, p := range []string{"dir/a.txt", "dir/c.txt"} {
				if !byPath[p].OK() {
					t.Errorf("%s: %+v, want it delivered", p, byPath[p])
				}
			}
			if r := byPath["dir/b.txt"]; r.OK() || !strings.Contains(r.Err, tt.want) {
				t.Errorf("dir/b.txt: %+v, want an error saying %q", r, tt.want)
			}
			// The sender tells the receiver not to wait for the file.
			if s, want := h.waitFinished(t), (Stats{Stored: 2, Failed: 1, Bytes: 2}); s != want {
				t.Errorf("receiver's Stats = %+v, want %+v", s, want)
			}
			if got := listTree(t, h.dir); fmt.Sprint(got) != "[dir/ dir/a.txt dir/c.txt]" {
				t.Errorf("receiver holds %q", got)
			}
		})
	}
}

func TestSendReportsFileThatShrinksWhileBeingSent(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		// Far more than the sender reads ahead: the truncation after the
		// first write is met while the file is still being read.
		"dir/a-big.bin": string(randomBytes(16*bufSize, 9)),
		"dir/b.txt":     "b",
	})
	big := filepath.Join(src, "dir", "a-big.bin")
	m := scan(t, filepath.Join(src, "dir"))
	c, h := startPair(t, hubOptions{})
	var once sync.Once
	opt := SendOptions{Parallel: 1, Observer: Observer{Wrote: func(int) {
		once.Do(func() {
			if err := os.Truncate(big, 0); err != nil {
				t.Error(err)
			}
		})
	}}}
	rep, err := send(t, c, m, opt)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	byPath := reportsByPath(t, rep)
	if !byPath["dir/b.txt"].OK() {
		t.Errorf("dir/b.txt: %+v, want it delivered", byPath["dir/b.txt"])
	}
	// Both ends notice: the sender's reason or the receiver's may come first.
	if r := byPath["dir/a-big.bin"]; r.OK() || !strings.Contains(r.Err, "shrank") && !strings.Contains(r.Err, "stream ended") {
		t.Errorf("dir/a-big.bin: %+v, want an error saying it shrank", r)
	}
	if s, want := h.waitFinished(t), (Stats{Stored: 1, Failed: 1, Bytes: 1}); s != want {
		t.Errorf("receiver's Stats = %+v, want %+v", s, want)
	}
	// The part of the file that shrank may stay, to be swept later: its
	// resume token, made from the old size, is never offered again.
	var final []string
	for _, p := range listTree(t, h.dir) {
		if !isPartName(path.Base(p)) {
			final = append(final, p)
		}
	}
	if fmt.Sprint(final) != "[dir/ dir/b.txt]" {
		t.Errorf("receiver holds %q under final names", final)
	}
}
