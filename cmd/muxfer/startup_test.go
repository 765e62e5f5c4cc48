package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binaryHub is "muxfer serve" running as a process of its own, as a user
// starts it.
type binaryHub struct {
	cmd   *exec.Cmd
	first string      // the first line of its stdout ("" if none)
	addr  string      // where it listens, from its log
	logs  chan string // the rest of its log, once it has exited
}

// startBinaryServe runs bin serve with args and a config folder of its
// own (so that it creates its key), and waits until it says where it
// listens. It returns an error, with what serve logged, if serve exits
// first. The hub gets SIGTERM when the test ends.
func startBinaryServe(t *testing.T, bin string, args ...string) (*binaryHub, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	serve := exec.CommandContext(ctx, bin, append([]string{"serve"}, args...)...)
	serve.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), keyEnv+"=")
	stdout, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	b := &binaryHub{cmd: serve, logs: make(chan string, 1)}
	t.Cleanup(func() {
		serve.Process.Signal(syscall.SIGTERM)
		serve.Wait()
		cancel()
	})
	out := bufio.NewReader(stdout)
	logs := bufio.NewScanner(stderr)
	addrRe := regexp.MustCompile(`listening" addr=(\S+)`)
	var early strings.Builder
	for b.addr == "" && logs.Scan() {
		early.WriteString(logs.Text() + "\n")
		if m := addrRe.FindStringSubmatch(logs.Text()); m != nil {
			b.addr = m[1]
		}
	}
	if b.addr == "" {
		return nil, fmt.Errorf("serve %q never said where it listens; its log:\n%s", args, early.String())
	}
	b.first, _ = out.ReadString('\n')
	go io.Copy(io.Discard, out)
	go func() {
		for logs.Scan() {
			early.WriteString(logs.Text() + "\n")
		}
		b.logs <- early.String()
	}()
	return b, nil
}

// key returns the MUXFER_KEY=... assignment of the line serve printed.
func (b *binaryHub) key(t *testing.T) string {
	t.Helper()
	assign, _, _ := strings.Cut(b.first, " ")
	if !strings.HasPrefix(assign, keyEnv+"=mxk") {
		t.Fatalf("serve printed %q; want the line a client needs", b.first)
	}
	return assign
}

// stop ends the hub with SIGTERM and returns its log.
func (b *binaryHub) stop(t *testing.T) string {
	t.Helper()
	b.cmd.Process.Signal(syscall.SIGTERM)
	if err := b.cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}
	return <-b.logs
}

// runBinary runs bin with args and the environment env added, and returns
// its exit code and output.
func runBinary(t *testing.T, bin string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir()), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	} else if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return 0, out.String(), errb.String()
}

// TestBinaryUsageErrorsAreOneLine: a bad command line, for every command,
// gets one line naming what is wrong and where the help is, and exit 2;
// never the whole help.
func TestBinaryUsageErrorsAreOneLine(t *testing.T) {
	bin := buildBinary(t)
	key := []string{keyEnv + "=" + "mxk1.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "muxfer: missing command: serve, send, recv, chat, demo, keygen, version or completion (see muxfer --help)"},
		{[]string{"fly"}, `muxfer: unknown command "fly": give serve, send, recv, chat, demo, keygen, version or completion (see muxfer --help)`},
		{[]string{"send", "127.0.0.1:7878"}, "muxfer send: missing PATH (see muxfer send --help)"},
		{[]string{"send"}, "muxfer send: missing ADDR and PATH (see muxfer send --help)"},
		{[]string{"send", "--stdin", "x.tar"}, "muxfer send: missing ADDR (see muxfer send --help)"},
		{[]string{"send", "a", "b", "--frobnicate"}, "muxfer send: flag provided but not defined: -frobnicate (see muxfer send --help)"},
		{[]string{"send", "a", "--stdin"}, "muxfer send: flag needs an argument: -stdin (see muxfer send --help)"},
		{[]string{"recv", "--dir", "d"}, "muxfer recv: missing ADDR (see muxfer recv --help)"},
		{[]string{"recv", "a"}, "muxfer recv: missing --dir (or --stdout) (see muxfer recv --help)"},
		{[]string{"recv", "a", "b", "--dir", "d"}, `muxfer recv: unexpected argument "b": recv takes one ADDR (see muxfer recv --help)`},
		{[]string{"chat"}, "muxfer chat: missing ADDR (see muxfer chat --help)"},
		{[]string{"chat", "a", "--key", "k", "--key-file", "f"}, "muxfer chat: give --key or --key-file, not both (see muxfer chat --help)"},
		{[]string{"serve", "x"}, `muxfer serve: unexpected argument "x" (see muxfer serve --help)`},
		{[]string{"serve", "--max-size", "lots"}, `muxfer serve: invalid value "lots" for flag -max-size: not a size: "lots" (try 500M or 10G) (see muxfer serve --help)`},
		{[]string{"demo", "x"}, `muxfer demo: unexpected argument "x" (see muxfer demo --help)`},
		{[]string{"keygen", "x"}, `muxfer keygen: unexpected argument "x" (see muxfer keygen --help)`},
		{[]string{"version", "x"}, `muxfer version: unexpected argument "x" (see muxfer version --help)`},
		{[]string{"completion"}, "muxfer completion: give one shell: bash, zsh or fish (see muxfer completion --help)"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errs := runBinary(t, bin, key, tt.args...)
			if code != exitUsage || out != "" || errs != tt.want+"\n" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and only the line %q", code, out, errs, exitUsage, tt.want)
			}
		})
	}
}

// TestBinaryAddrWithoutPortMeansTheHubsDefault: a hub told to listen on a
// host alone listens on port 7878, and a client given a host alone,
// IPv4 or IPv6, with or without brackets, reaches it there.
func TestBinaryAddrWithoutPortMeansTheHubsDefault(t *testing.T) {
	bin := buildBinary(t)
	for _, tt := range []struct {
		listen  string
		clients []string
	}{
		{"127.0.0.3", []string{"127.0.0.3", "127.0.0.3:"}}, // not 127.0.0.1, where another hub may hold 7878,
		{"[::1]", []string{"::1", "[::1]"}},
	} {
		t.Run(tt.listen, func(t *testing.T) {
			h, err := startBinaryServe(t, bin, "--listen", tt.listen, "--dir", t.TempDir())
			if err != nil {
				// The port is another program's, or there is no IPv6 loopback.
				t.Skipf("no hub on %s: %v", tt.listen, err)
			}
			if !strings.HasSuffix(h.addr, ":7878") {
				t.Fatalf("serve --listen %s listens on %s, want port 7878", tt.listen, h.addr)
			}
			for _, addr := range tt.clients {
				code, out, errs := runBinary(t, bin, []string{h.key(t)}, "send", addr, "../../testdata/hello.txt", "--progress", "never", "--name", "ci")
				if code != exitOK || !strings.Contains(out, "connected to "+h.addr) {
					t.Errorf("send %s: exit %d, stdout %q, stderr %q; want it connected to %s", addr, code, out, errs, h.addr)
				}
			}
			h.stop(t)
		})
	}
}
