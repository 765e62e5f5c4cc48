package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	for _, want := range []string{"offers 9 files and 10 folders (3.1 MiB): accepted, into", "received testdata/hello.txt from"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("recv's output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRecvUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"recv", "127.0.0.1:1", "--yes"},             // no --dir
		{"recv", "127.0.0.1:1", "--stdout"},          // --stdout takes its file without asking
		{"recv", "--dir", t.TempDir(), "--yes"},      // no ADDR
		{"recv", "a:1", "b:2", "--dir", t.TempDir()}, // two
	} {
		if code, _, _ := runCmd(t, "", args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// lockedBuffer is a bytes.Buffer that a command writes while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// live is a command running in the test's process with a stdin the test
// types into; code receives its exit code.
type live struct {
	out, errb lockedBuffer
	typed     *io.PipeWriter
	code      chan int
	stop      context.CancelFunc // interrupts it
}

// startLive runs the command args with the key of h, and a stdin that the
// test writes to p.typed. The test's end interrupts it, if it still runs,
// and closes its stdin.
func startLive(t *testing.T, h *hubtest.Hub, args ...string) *live {
	getenv := func(name string) string {
		if name == keyEnv {
			return h.Key.Text()
		}
		return ""
	}
	stdin, typed := io.Pipe()
	ctx, stop := context.WithCancel(context.Background())
	p := &live{typed: typed, code: make(chan int, 1), stop: stop}
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		p.code <- run(env{stdin: stdin, stdout: &p.out, stderr: &p.errb, ctx: ctx, getenv: ownConfig(t, getenv)}, args)
	}()
	t.Cleanup(func() {
		stop()
		typed.Close()
		<-exited
	})
	return p
}

// waitFor polls out until it holds want.
func waitFor(t *testing.T, out *lockedBuffer, want string) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.After(15 * time.Second); !strings.Contains(out.String(), want); {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestRecvAsksAboutEachOffer: without --yes, recv shows each offer with
// its files and sizes and waits for y or n on stdin; n leaves nothing and
// the sender hears "declined", y receives; once stdin ends, offers are
// declined without waiting.
func TestRecvAsksAboutEachOffer(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	inbox := filepath.Join(t.TempDir(), "inbox")
	p := startLive(t, h, "recv", h.Addr, "--name", "bob", "--dir", inbox)
	out, typed, code, stop := &p.out, p.typed, p.code, p.stop
	waitFor(t, out, "waiting for files")
	src := hubtest.Testdata(t, "../../testdata")
	type result struct {
		code      int
		out, errs string
	}
	send := func() <-chan result {
		done := make(chan result, 1)
		go func() {
			c, o, e := runCmd(t, "", "send", h.Addr, "--name", "alice", "--to", "bob", "--progress", "never", src)
			done <- result{c, o, e}
		}()
		return done
	}

	first := send()
	waitFor(t, out, "accept? y/n (or /accept 1, /decline 1)")
	for _, want := range []string{"* alice offers 9 files and 10 folders (3.1 MiB)", "testdata/hello.txt  ", "testdata/nested/a/b/"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the offer as shown lacks %q:\n%s", want, out.String())
		}
	}
	io.WriteString(typed, "n not today\n")
	if r := <-first; r.code == exitOK || !strings.Contains(r.out+r.errs, "bob: not today") {
		t.Errorf("send declined: exit %d, want failure giving bob's reason:\n%s%s", r.code, r.out, r.errs)
	}
	if entries, err := os.ReadDir(inbox); err == nil && len(entries) > 0 {
		t.Errorf("bob's inbox after n: %v, want it empty", entries)
	}

	second := send()
	waitFor(t, out, "/accept 2, /decline 2")
	io.WriteString(typed, "y\n")
	if r := <-second; r.code != exitOK {
		t.Fatalf("send accepted: exit %d:\n%s%s", r.code, r.out, r.errs)
	}
	hubtest.SameTree(t, src, filepath.Join(inbox, "testdata"))
	waitFor(t, out, "* offer 2 from alice: received 9 of 9 files")

	typed.Close() // nobody left to ask
	waitForClosed := send()
	if r := <-waitForClosed; r.code == exitOK || !strings.Contains(r.out+r.errs, "bob: declined") {
		t.Errorf("send after recv's stdin ended: exit %d, want declined at once:\n%s%s", r.code, r.out, r.errs)
	}
	stop()
	if c := <-code; c != exitInterrupted {
		t.Errorf("recv after an interrupt: exit %d, want %d: %s", c, exitInterrupted, p.errb.String())
	}
}

// TestChatSendsToAPersonWhoAccepts: /send NICK in one chat offers the
// files to another chat, which lists them with /offers, takes them with
// /accept into its --dir, and shows them received; the sender's chat
// reports them delivered.
func TestChatSendsToAPersonWhoAccepts(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	dir := filepath.Join(t.TempDir(), "bob's files")
	p := startLive(t, h, "chat", h.Addr, "--name", "bob", "--dir", dir, "--progress", "never")
	out, typed, code := &p.out, p.typed, p.code
	waitFor(t, out, "connected to")
	src := hubtest.Testdata(t, "../../testdata")
	sent := make(chan string, 1)
	go func() {
		c, o, e := runCmd(t, "/send bob '"+src+"'\n", "chat", h.Addr, "--name", "alice", "--progress", "never")
		if c != exitOK {
			o += fmt.Sprintf("\nexit %d\n%s", c, e)
		}
		sent <- o
	}()
	waitFor(t, out, "* alice offers 9 files and 10 folders (3.1 MiB): /accept 1 or /decline 1")
	io.WriteString(typed, "/offers\n")
	waitFor(t, out, "* waiting: 1: 9 files and 10 folders from alice (3.1 MiB)")
	io.WriteString(typed, "/accept\n")
	got := <-sent
	if !strings.Contains(got, "sent 9 of 9 files") {
		t.Errorf("alice's chat:\n%s", got)
	}
	hubtest.SameTree(t, src, filepath.Join(dir, "testdata"))
	waitFor(t, out, "* offer 1 from alice: received 9 of 9 files (3.1 MiB)")
	io.WriteString(typed, "/accept\n")
	waitFor(t, out, "! no offer is waiting for an answer")
	typed.Close()
	if c := <-code; c != exitOK {
		t.Errorf("bob's chat: exit %d: %s", c, p.errb.String())
	}
}

// recv removes from --dir the parts of cut files older than
// --keep-partial when it connects, as the hub does in its folder; a
// newer part stays for its sender to resume.
func TestRecvRemovesPartsOlderThanKeepPartial(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	dir := t.TempDir()
	old, fresh := filepath.Join(dir, "sub", ".muxfer-00aa.part"), filepath.Join(dir, ".muxfer-11bb.part")
	if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("part"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	then := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(old, then, then); err != nil {
		t.Fatal(err)
	}
	startRecv(t, h, "bob", "--dir", dir, "--keep-partial", "1h")
	if !within(10*time.Second, func() bool {
		_, err := os.Stat(old)
		return errors.Is(err, os.ErrNotExist)
	}) {
		t.Fatal("the part older than --keep-partial is still there")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("the fresh part: %v", err)
	}
}
