package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/transfer"
)

// buildBinary builds muxfer into the test's temporary folder (quickly,
// from the build cache, after the first time).
func buildBinary(t *testing.T) string { return hubtest.BuildMuxfer(t, ".") }

// TestBinaryServeAndSend runs the real binary as two processes, as a user
// would in two terminals: serve, then send a folder tree; then stops the
// hub with SIGTERM.
func TestBinaryServeAndSend(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	h, err := hubtest.StartServe(t, bin, nil, "--listen", "127.0.0.1:0", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	// The one line a client needs: MUXFER_KEY=mxk2.... muxfer chat HOST:PORT
	first, keyAssign := h.KeyLine(t)
	if !strings.HasPrefix(keyAssign, "MUXFER_KEY=mxk2.") || !strings.Contains(first, "muxfer chat 127.0.0.1:") {
		t.Fatalf("serve printed %q; want the line a client needs", first)
	}
	addr := h.Addr

	src := hubtest.Testdata(t, "../../testdata")
	send := exec.CommandContext(ctx, bin, "send", addr, src, "--progress", "never")
	send.Env = append(os.Environ(), keyAssign, "XDG_CONFIG_HOME="+t.TempDir())
	out, err := send.CombinedOutput()
	if err != nil {
		t.Fatalf("send: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "sent 9 of 9 files") {
		t.Errorf("send output lacks its summary:\n%s", out)
	}
	hubtest.SameTree(t, src, filepath.Join(dir, "testdata"))

	log, _ := h.Stop(t)
	for _, want := range []string{"client joined", "transfer received", "stored=9", "shutting down"} {
		if !strings.Contains(log, want) {
			t.Errorf("hub log lacks %q:\n%s", want, log)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "testdata", "empty folder", "inner")); err != nil {
		t.Errorf("empty folder not created: %v", err)
	}
}

// TestBinarySendKilledAndRunAgainResumes kills send (SIGKILL: no goodbye,
// no cleanup) in the middle of a large file, then runs the same command
// again: the second run resumes from the hub's part instead of starting
// over, and the file arrives whole.
func TestBinarySendKilledAndRunAgainResumes(t *testing.T) {
	bin := buildBinary(t)
	h := hubtest.Start(t, hub.Config{})
	src := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse, and far more than loopback moves before the kill.
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	env := append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), keyEnv+"="+h.Key.Text())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	first := exec.CommandContext(ctx, bin, "send", h.Addr, src, "--progress", "never")
	first.Env = env
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	partGrown := within(time.Minute, func() bool {
		parts, _ := filepath.Glob(filepath.Join(h.Dir, ".muxfer-*.part"))
		if len(parts) != 1 {
			return false
		}
		part, err := os.Stat(parts[0])
		return err == nil && part.Size() >= 32<<20
	})
	if !partGrown {
		first.Process.Kill()
		first.Wait()
		t.Fatal("no part of 32 MiB on the hub within a minute")
	}
	first.Process.Kill()
	first.Wait()
	if _, err := os.Stat(filepath.Join(h.Dir, "big.bin")); err == nil {
		t.Fatal("big.bin arrived before the kill; the test needs a bigger file")
	}

	second := exec.CommandContext(ctx, bin, "send", h.Addr, src, "--progress", "never", "--json")
	second.Env = env
	out, err := second.Output()
	if err != nil {
		t.Fatalf("second send: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var sum struct {
		Type string                `json:"type"`
		List []transfer.FileReport `json:"list"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Type != "summary" || len(sum.List) != 1 {
		t.Fatalf("last line %q (%v), want a summary of one file", lines[len(lines)-1], err)
	}
	if r := sum.List[0]; r.Status != transfer.Delivered || r.Resumed < 32<<20 {
		t.Errorf("big.bin: %+v, want delivered after resuming from at least 32 MiB", r)
	}
	info, err := os.Stat(filepath.Join(h.Dir, "big.bin"))
	if err != nil || info.Size() != 1<<30 {
		t.Fatalf("hub's big.bin: %v, %v", info, err)
	}
	if parts, _ := filepath.Glob(filepath.Join(h.Dir, ".muxfer-*.part")); len(parts) != 0 {
		t.Errorf("parts left on the hub: %q", parts)
	}
}

// TestBinaryHubWithoutTLSSeesNothingPeopleSendEachOther runs the real
// binary with TLS off between the hub and everyone (--insecure-no-tls)
// and records every byte on the loopback between them: alice sends bob a
// file (send --to) and a direct message (/msg in chat), bob accepts and
// reads both, and the recording holds none of the file's bytes, its name,
// or the message's words, which go end to end.
func TestBinaryHubWithoutTLSSeesNothingPeopleSendEachOther(t *testing.T) {
	bin := buildBinary(t)
	h, err := hubtest.StartServe(t, bin, nil, "--listen", "127.0.0.1:0", "--dir", t.TempDir(), "--insecure-no-tls")
	if err != nil {
		t.Fatal(err)
	}
	p := hubtest.StartProxy(t, h.Addr)
	p.Record()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	inbox := t.TempDir()
	bob := exec.CommandContext(ctx, bin, "chat", p.Addr, "--insecure-no-tls", "--name", "bob", "--dir", inbox, "--json", "--progress", "never")
	bob.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
	bobIn, err := bob.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	bobOut, err := bob.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { bobIn.Close(); bob.Wait() }()
	events := make(chan map[string]any, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(bobOut)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				events <- ev
			}
		}
	}()
	next := func(what string, ok func(map[string]any) bool) map[string]any {
		t.Helper()
		for {
			select {
			case ev, open := <-events:
				if !open {
					t.Fatalf("bob's chat ended before %s", what)
				}
				if ok(ev) {
					return ev
				}
			case <-ctx.Done():
				t.Fatalf("no %s from bob's chat", what)
			}
		}
	}
	next("welcome", func(ev map[string]any) bool { return ev["type"] == "welcome" })

	secret := make([]byte, 1<<20)
	rand.Read(secret)
	copy(secret[5000:], "the password is swordfish")
	src := filepath.Join(t.TempDir(), "merger-plans-q3.bin")
	if err := os.WriteFile(src, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	aliceEnv := append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
	send := exec.CommandContext(ctx, bin, "send", p.Addr, "--insecure-no-tls", "--name", "alice", "--to", "bob", src, "--progress", "never")
	send.Env = aliceEnv
	sent := make(chan error, 1)
	var sendOut []byte
	go func() {
		var err error
		sendOut, err = send.CombinedOutput()
		sent <- err
	}()
	offer := next("offer", func(ev map[string]any) bool { return ev["type"] == "offer" })
	fmt.Fprintf(bobIn, "/accept %v\n", offer["offer"])
	if err := <-sent; err != nil {
		t.Fatalf("send: %v\n%s", err, sendOut)
	}
	if got, err := os.ReadFile(filepath.Join(inbox, "merger-plans-q3.bin")); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("bob's copy: %v", err)
	}

	const dm = "meet me by the old mill at midnight"
	msg := exec.CommandContext(ctx, bin, "chat", p.Addr, "--insecure-no-tls", "--name", "alice", "--progress", "never")
	msg.Env, msg.Stdin = aliceEnv, strings.NewReader("/msg bob "+dm+"\n")
	if out, err := msg.CombinedOutput(); err != nil || !strings.Contains(string(out), "[private to bob]") {
		t.Fatalf("chat: %v\n%s", err, out)
	}
	next("direct message", func(ev map[string]any) bool { return ev["type"] == "chat" && ev["text"] == dm && ev["to"] == "bob" })

	var all []byte
	for _, r := range p.Recorded() {
		all = append(append(all, r...), 0)
	}
	if !bytes.Contains(all, []byte(`"name":"alice"`)) {
		t.Fatal("the recording does not show alice's hello: it records nothing useful")
	}
	for _, word := range []string{"swordfish", "merger-plans", "old mill", "midnight"} {
		if bytes.Contains(all, []byte(word)) {
			t.Errorf("the hub saw %q", word)
		}
	}
	for off := 0; off+32 <= len(secret); off += 4096 {
		if bytes.Contains(all, secret[off:off+32]) {
			t.Fatalf("the hub saw the file's bytes at %d", off)
		}
	}
}

// TestBinaryListsAndGetsBackWhatItSent: send a tree, list it with ls, get
// it back with get and with chat's /get; a client of another identity
// sees none of it.
func TestBinaryListsAndGetsBackWhatItSent(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := hubtest.StartServe(t, bin, nil, "--listen", "127.0.0.1:0", "--dir", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, keyAssign := h.KeyLine(t)
	alice, bob := t.TempDir(), t.TempDir() // each their own identity
	run := func(config, stdin string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), keyAssign, "XDG_CONFIG_HOME="+config)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	src := hubtest.Testdata(t, "../../testdata")
	if out, err := run(alice, "", "send", h.Addr, src, "--progress", "never"); err != nil {
		t.Fatalf("send: %v\n%s", err, out)
	}

	out, err := run(alice, "", "ls", h.Addr)
	if err != nil || !strings.Contains(out, " testdata/") {
		t.Fatalf("ls: %v\n%s", err, out)
	}
	out, err = run(alice, "", "ls", h.Addr, "testdata", "--recursive", "--json")
	if err != nil {
		t.Fatalf("ls --json: %v\n%s", err, out)
	}
	files := 0
	for line := range strings.Lines(out) {
		var e struct {
			Type, Path, By string
			Dir            bool
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.Type != "entry" {
			t.Fatalf("ls --json printed %q: %v", line, err)
		}
		if !e.Dir {
			files++
			if e.By == "" {
				t.Errorf("%s: no uploader", e.Path)
			}
		}
	}
	if files != 9 {
		t.Errorf("ls --recursive listed %d files, want 9:\n%s", files, out)
	}

	dir := t.TempDir()
	out, err = run(alice, "", "get", h.Addr, "testdata", "--dir", dir, "--progress", "never")
	if err != nil || !strings.Contains(out, "got 9 of 9 files") {
		t.Fatalf("get: %v\n%s", err, out)
	}
	hubtest.SameTree(t, src, filepath.Join(dir, "testdata"))

	chatDir := t.TempDir()
	out, err = run(alice, "/ls\n/get testdata/nested\n", "chat", h.Addr, "--dir", chatDir)
	if err != nil || !strings.Contains(out, "testdata/") || !strings.Contains(out, "got 2 of 2 files") {
		t.Fatalf("chat with /ls and /get: %v\n%s", err, out)
	}
	hubtest.SameTree(t, filepath.Join(src, "nested"), filepath.Join(chatDir, "nested"))

	out, err = run(bob, "", "ls", h.Addr)
	if err != nil || strings.Contains(out, "testdata") {
		t.Errorf("bob's ls: %v\n%s; want nothing of alice's", err, out)
	}
	out, err = run(bob, "", "get", h.Addr, "testdata", "--dir", t.TempDir(), "--progress", "never")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, "no such file or folder") {
		t.Errorf("bob's get: %v\n%s; want exit 1 and not found", err, out)
	}
}

// TestBinaryHoldsFilesForSomeoneOffline: send --to carol while carol is
// away says the hub holds them; held lists them; carol's recv --once
// takes them and exits.
func TestBinaryHoldsFilesForSomeoneOffline(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hubDir := t.TempDir()
	h, err := hubtest.StartServe(t, bin, nil, "--listen", "127.0.0.1:0", "--dir", hubDir)
	if err != nil {
		t.Fatal(err)
	}
	_, keyAssign := h.KeyLine(t)
	alice, carol := t.TempDir(), t.TempDir()
	run := func(config string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), keyAssign, "XDG_CONFIG_HOME="+config)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	inbox := t.TempDir()
	if out, err := run(carol, "recv", h.Addr, "--name", "carol", "--dir", inbox, "--yes", "--once"); err != nil {
		t.Fatalf("carol's first recv --once: %v\n%s", err, out)
	}
	src := hubtest.Testdata(t, "../../testdata")
	out, err := run(alice, "send", h.Addr, src, "--to", "carol", "--name", "alice", "--progress", "never")
	if err != nil || !strings.Contains(out, "carol is offline: the hub holds 9 files for them until") {
		t.Fatalf("send to carol, away: %v\n%s", err, out)
	}
	out, err = run(alice, "held", h.Addr, "--name", "alice")
	if err != nil || !strings.Contains(out, "carol (waiting)") {
		t.Fatalf("held: %v\n%s", err, out)
	}
	out, err = run(carol, "recv", h.Addr, "--name", "carol", "--dir", inbox, "--yes", "--once")
	if err != nil || !strings.Contains(out, "alice left you 9 files and 10 folders") {
		t.Fatalf("carol's recv --once: %v\n%s", err, out)
	}
	hubtest.SameTree(t, src, filepath.Join(inbox, "testdata"))
	out, err = run(alice, "held", h.Addr, "--name", "alice")
	if err != nil || !strings.Contains(out, "holds nothing") {
		t.Errorf("held after carol took it: %v\n%s", err, out)
	}
}
