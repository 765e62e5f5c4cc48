package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub/hubtest"
)

// TestBinaryServeAndSend runs the real binary as two processes, as a user
// would in two terminals: serve, then send a folder tree; then stops the
// hub with SIGTERM.
func TestBinaryServeAndSend(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "muxfer")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, cfgDir := t.TempDir(), t.TempDir()
	serve := exec.CommandContext(ctx, bin, "serve", "--listen", "127.0.0.1:0", "--dir", dir)
	serve.Env = append(os.Environ(), "XDG_CONFIG_HOME="+cfgDir, "MUXFER_KEY=")
	stderr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	// The one line a client needs: MUXFER_KEY=mxk1.... muxfer chat HOST:PORT
	first, err := bufio.NewReader(stdout).ReadString('\n')
	keyAssign, _, _ := strings.Cut(first, " ")
	if err != nil || !strings.HasPrefix(keyAssign, "MUXFER_KEY=mxk1.") || !strings.Contains(first, "muxfer chat 127.0.0.1:") {
		t.Fatalf("serve printed %q, %v; want the line a client needs", first, err)
	}
	logs := bufio.NewScanner(stderr)
	addrRe := regexp.MustCompile(`listening" addr=(\S+)`)
	var addr string
	for addr == "" && logs.Scan() {
		if m := addrRe.FindStringSubmatch(logs.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatal("serve never said where it listens")
	}
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for logs.Scan() {
			b.WriteString(logs.Text() + "\n")
		}
		rest <- b.String()
	}()

	src := hubtest.Testdata(t, "../../testdata")
	send := exec.CommandContext(ctx, bin, "send", addr, src, "--progress", "never")
	send.Env = append(os.Environ(), keyAssign)
	out, err := send.CombinedOutput()
	if err != nil {
		t.Fatalf("send: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "sent 9 of 9 files") {
		t.Errorf("send output lacks its summary:\n%s", out)
	}
	hubtest.SameTree(t, src, filepath.Join(dir, "testdata"))

	serve.Process.Signal(syscall.SIGTERM)
	if err := serve.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}
	log := <-rest
	for _, want := range []string{"client joined", "transfer received", "stored=9", "shutting down"} {
		if !strings.Contains(log, want) {
			t.Errorf("hub log lacks %q:\n%s", want, log)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "testdata", "empty folder", "inner")); err != nil {
		t.Errorf("empty folder not created: %v", err)
	}
}
