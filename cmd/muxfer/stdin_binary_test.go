package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
)

// binaryEnv is the environment of a muxfer process for hub h, with
// TMPDIR at tmp.
func binaryEnv(t *testing.T, h *hubtest.Hub, tmp string) []string {
	return append(os.Environ(), "TMPDIR="+tmp, "XDG_CONFIG_HOME="+t.TempDir(), "MUXFER_KEY="+h.Key.Text())
}

// waitForClient waits until h lists a client called name, or fails the
// test, with how it ended, once exited is closed (the client's command
// ended) or 10 s have passed.
func waitForClient(t *testing.T, h *hubtest.Hub, name string, exited <-chan struct{}, how func() string) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		for _, c := range h.Clients() {
			if c.Name == name {
				return
			}
		}
		select {
		case <-tick.C:
		case <-exited:
			t.Fatalf("%s ended before it connected: %s", name, how())
		case <-deadline:
			t.Fatalf("%s did not connect", name)
		}
	}
}

// TestBinarySendStdinStreamsThroughWithoutTemporaryFile: the real binary
// pipes a few MiB from send --stdin to the hub, and with --to through the
// hub to recv --stdout, byte for byte, and send writes nothing in its
// temporary folder.
func TestBinarySendStdinStreamsThroughWithoutTemporaryFile(t *testing.T) {
	bin := buildBinary(t)
	h := hubtest.Start(t, hub.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := make([]byte, 5<<20+321)
	rand.Read(data)

	tmp := t.TempDir()
	send := exec.CommandContext(ctx, bin, "send", h.Addr, "--stdin", "in.tar", "--progress", "never")
	send.Env, send.Stdin = binaryEnv(t, h, tmp), bytes.NewReader(data)
	if out, err := send.CombinedOutput(); err != nil {
		t.Fatalf("send: %v\n%s", err, out)
	}
	if got, err := os.ReadFile(filepath.Join(h.Dir, "in.tar")); err != nil || sum(got) != sum(data) {
		t.Fatalf("the hub stored %d bytes (%v), want %d", len(got), err, len(data))
	}
	leftNothing(t, tmp)

	var out, errb bytes.Buffer
	recv := exec.CommandContext(ctx, bin, "recv", h.Addr, "--name", "bob", "--stdout", "--yes")
	recv.Env, recv.Stdout, recv.Stderr = binaryEnv(t, h, t.TempDir()), &out, &errb
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var recvErr error
	go func() {
		recvErr = recv.Wait()
		close(exited)
	}()
	t.Cleanup(func() { cancel(); <-exited })
	waitForClient(t, h, "bob", exited, errb.String)
	send = exec.CommandContext(ctx, bin, "send", h.Addr, "--to", "bob", "--stdin", "in.tar", "--progress", "never")
	send.Env, send.Stdin = binaryEnv(t, h, tmp), bytes.NewReader(data)
	if b, err := send.CombinedOutput(); err != nil {
		t.Fatalf("send --to bob: %v\n%s", err, b)
	}
	<-exited
	if recvErr != nil || sum(out.Bytes()) != sum(data) {
		t.Fatalf("recv: %v, wrote %d bytes, want %d; stderr:\n%s", recvErr, out.Len(), len(data), errb.String())
	}
	leftNothing(t, tmp)
}

// TestBinarySendStdinHoldsBoundedMemory: 200 MiB piped through send
// --stdin leave its peak resident memory far below that. The peak is the
// process's VmHWM, read while it runs: its rusage would count the test
// process's own peak, which a child started with vfork inherits.
func TestBinarySendStdinHoldsBoundedMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc to read the peak memory from")
	}
	bin := buildBinary(t)
	h := hubtest.Start(t, hub.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const total = 200 << 20
	tmp := t.TempDir()
	send := exec.CommandContext(ctx, bin, "send", h.Addr, "--stdin", "big.bin", "--progress", "never")
	send.Env = binaryEnv(t, h, tmp)
	send.Stdin = io.LimitReader(pattern{}, total)
	var out bytes.Buffer
	send.Stdout, send.Stderr = &out, &out
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- send.Wait() }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var peak uint64 // bytes
	var err error
	for running := true; running; {
		select {
		case err = <-exited:
			running = false
		case <-tick.C:
			if rss, err := hubtest.PeakRSS(send.Process.Pid); err == nil {
				peak = max(peak, rss)
			}
		}
	}
	if err != nil {
		t.Fatalf("send: %v\n%s", err, out.String())
	}
	if info, err := os.Stat(filepath.Join(h.Dir, "big.bin")); err != nil || info.Size() != total {
		t.Fatalf("the hub stored %v (%v), want %d bytes", info, err, total)
	}
	t.Logf("send's peak RSS: %d MiB for %d MiB piped", peak>>20, total>>20)
	if peak == 0 || peak > 64<<20 {
		t.Errorf("send's peak RSS is %d KiB for %d MiB piped, want some, under 64 MiB", peak>>10, total>>20)
	}
	leftNothing(t, tmp)
}

// pattern is an endless reader of bytes that do not compress to nothing.
type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return len(p), nil
}
