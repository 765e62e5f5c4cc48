package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/transfer"
)

// TestSendFollowsLinksNamedAsArguments: send ADDR link-to-file
// link-to-folder sends what the links point to, under the links' names,
// as scp and rsync do; a link inside the folder is skipped, and said so.
func TestSendFollowsLinksNamedAsArguments(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	src := t.TempDir()
	for name, body := range map[string]string{"real/a.txt": "aaa", "real/sub/b.txt": "bb", "file.txt": "file"} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"photos": "real", "notes.txt": "file.txt", "real/inner": "../file.txt"} {
		if err := os.Symlink(target, filepath.Join(src, link)); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs := runCmd(t, "", "send", h.Addr, "--progress", "never", filepath.Join(src, "photos"), filepath.Join(src, "notes.txt"))
	if code != exitOK || !strings.Contains(out, "sent 3 of 3 files") {
		t.Fatalf("send two links: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "skipped "+filepath.Join(src, "photos", "inner")+": not a regular file") {
		t.Errorf("the link inside the folder is not reported as skipped:\n%s", out)
	}
	for name, want := range map[string]string{"photos/a.txt": "aaa", "photos/sub/b.txt": "bb", "notes.txt": "file"} {
		if got, err := os.ReadFile(filepath.Join(h.Dir, name)); err != nil || string(got) != want {
			t.Errorf("hub's %s: %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(h.Dir, "photos", "inner")); err == nil {
		t.Error("the link inside the folder arrived")
	}
}

// TestSendPrintsAnErrorOnceOnStderr: an error that ends send is one line
// on stderr, and nowhere else.
func TestSendPrintsAnErrorOnceOnStderr(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	file := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(file, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, "", "send", h.Addr, "--to", "nobody", "--progress", "never", file)
	if code != exitFailed {
		t.Errorf("exit %d, want %d", code, exitFailed)
	}
	want := "muxfer: recipient not connected: nobody called \"nobody\" is connected, and no identity owns that name here: the hub cannot hold files for it\n"
	if errs != want || strings.Contains(out, "not connected") || !strings.Contains(out, "sent 0 of 1 files") {
		t.Errorf("stdout:\n%s\nstderr:\n%s\nwant the summary on stdout and only %q on stderr", out, errs, want)
	}
}

// TestSendSaysWhenAFileWasAlreadyThere: sending the same file again finds
// all of it on the hub: the file's line and the summary say "already
// there", with no rate, since nothing moved.
func TestSendSaysWhenAFileWasAlreadyThere(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	file := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(file, []byte("hello world\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	getenv := func(name string) string {
		if name == keyEnv {
			return h.Key.Text()
		}
		return ""
	}
	getenv = ownConfig(t, getenv) // one resume key for both sends
	for i, want := range []string{"(12 B) in ", "(12 B, already there) in "} {
		code, out, errs := runCmdEnv(t, getenv, "", "send", h.Addr, "--progress", "never", file)
		if code != exitOK || !strings.Contains(out, want) {
			t.Fatalf("send %d: exit %d, want a summary with %q\n%s%s", i+1, code, want, out, errs)
		}
		if i == 1 && (!strings.Contains(out, "… already there\n") || strings.Contains(out, "/s")) {
			t.Errorf("send again: want the file already there and no rate:\n%s", out)
		}
	}
}

// TestResumedFilesSayWhereTheyWere: the lines of a file found whole, or
// in part, at the receiver name the receiver: the hub, or the client
// the send went to.
func TestResumedFilesSayWhereTheyWere(t *testing.T) {
	whole := transfer.FileReport{Path: "a.bin", Size: 100, Status: transfer.Delivered, Hash: "xxh3-128:00", Stored: "a.bin", Resumed: 100}
	part := whole
	part.Path, part.Stored, part.Resumed = "b.bin", "b.bin", 40
	rep := &transfer.Report{Files: []transfer.FileReport{whole, part}, Bytes: 200, Elapsed: time.Second}
	tests := []struct {
		to   string
		want []string
	}{
		{"", []string{"a.bin (100 B) xxh3-128:00… already there", "b.bin (100 B) xxh3-128:00… (resumed at 40 B)", "(200 B, 140 B of it already on the hub) in 1s, 60 B/s"}},
		{"bob", []string{"a.bin (100 B) xxh3-128:00… already with bob", "(200 B, 140 B of it already with bob) in 1s, 60 B/s"}},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		u, err := newUI(&out, &bytes.Buffer{}, false, "never")
		if err != nil {
			t.Fatal(err)
		}
		u.file("", tt.to, whole)
		u.file("", tt.to, part)
		if err := u.finish("", tt.to, rep, errors.New("not shown")); err == nil {
			t.Error("finish lost the error")
		}
		for _, want := range tt.want {
			if !strings.Contains(out.String(), want) {
				t.Errorf("to %q: output lacks %q:\n%s", tt.to, want, out.String())
			}
		}
		if strings.Contains(out.String(), "not shown") {
			t.Errorf("the error reached stdout:\n%s", out.String())
		}
	}
}

// TestSummaryRateLeavesOutTheWaitForAnAnswer: a send that waited 8 s for
// /accept and moved its bytes in 2 s gives the rate of those 2 s.
func TestSummaryRateLeavesOutTheWaitForAnAnswer(t *testing.T) {
	var out bytes.Buffer
	u, err := newUI(&out, &bytes.Buffer{}, false, "never")
	if err != nil {
		t.Fatal(err)
	}
	f := transfer.FileReport{Path: "a.bin", Size: 2000, Status: transfer.Delivered, Hash: "xxh3-128:00", Stored: "a.bin"}
	u.summary("", "bob", &transfer.Report{Files: []transfer.FileReport{f}, Bytes: 2000, Elapsed: 10 * time.Second, Moving: 2 * time.Second}, nil)
	if want := "sent 1 of 1 files (2.0 KiB) in 10s, 1000 B/s"; !strings.Contains(out.String(), want) {
		t.Errorf("summary %q, want %q", out.String(), want)
	}
}
