package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
)

// TestSendToReachesRecv: muxfer send --to bob hands the files to the
// muxfer recv running as bob, which stores them verified; recv runs until
// interrupted.
func TestSendToReachesRecv(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	getenv := func(name string) string {
		if name == keyEnv {
			return h.Key.Text()
		}
		return ""
	}
	inbox := filepath.Join(t.TempDir(), "inbox")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var out, errb bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run(env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, ctx: ctx, getenv: ownConfig(t, getenv)},
			[]string{"recv", h.Addr, "--name", "bob", "--dir", inbox, "--yes"})
	}()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.After(10 * time.Second); len(h.Clients()) == 0; {
		select {
		case <-tick.C:
		case c := <-code:
			t.Fatalf("recv exited with %d: %s", c, errb.String())
		case <-deadline:
			t.Fatal("recv did not connect")
		}
	}
	src := hubtest.Testdata(t, "../../testdata")
	sent, sout, serr := runCmd(t, "", "send", h.Addr, "--to", "bob", "--progress", "never", src)
	if sent != exitOK {
		t.Fatalf("send --to bob: exit %d\n%s%s", sent, sout, serr)
	}
	stop()
	if c := <-code; c != exitInterrupted {
		t.Errorf("recv after an interrupt: exit %d, want %d: %s", c, exitInterrupted, errb.String())
	}
	hubtest.SameTree(t, src, filepath.Join(inbox, "testdata"))
	for _, want := range []string{"accepted 9 files from", "received testdata/hello.txt"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("recv's output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRecvNeedsDirAndYes(t *testing.T) {
	for _, args := range [][]string{
		{"recv", "127.0.0.1:1", "--yes"},
		{"recv", "127.0.0.1:1", "--dir", t.TempDir()},
		{"recv", "--dir", t.TempDir(), "--yes"},
	} {
		if code, _, _ := runCmd(t, "", args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
}
