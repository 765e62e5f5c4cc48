package main

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
)

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
		{nil, "muxfer: missing command: serve, send, recv, ls, get, held, chat, demo, keygen, id, peers, invite, version or completion (see muxfer --help)"},
		{[]string{"teleport"}, `muxfer: unknown command "teleport": give serve, send, recv, ls, get, held, chat, demo, keygen, id, peers, invite, version or completion (see muxfer --help)`},
		{[]string{"sned", "a", "b"}, `muxfer: unknown command "sned" (did you mean send?): give serve, send, recv, ls, get, held, chat, demo, keygen, id, peers, invite, version or completion (see muxfer --help)`},
		{[]string{"send", "127.0.0.1:7878"}, "muxfer send: missing PATH (see muxfer send --help)"},
		{[]string{"send"}, "muxfer send: missing ADDR and PATH (see muxfer send --help)"},
		{[]string{"send", "--stdin", "x.tar"}, "muxfer send: missing ADDR (see muxfer send --help)"},
		{[]string{"send", "a", "b", "--frobnicate"}, "muxfer send: flag provided but not defined: --frobnicate (see muxfer send --help)"},
		{[]string{"send", "a", "--stdin"}, "muxfer send: flag needs an argument: --stdin (see muxfer send --help)"},
		{[]string{"recv", "--dir", "d"}, "muxfer recv: missing ADDR (see muxfer recv --help)"},
		{[]string{"recv", "a"}, "muxfer recv: missing --dir (or --stdout) (see muxfer recv --help)"},
		{[]string{"recv", "a", "b", "--dir", "d"}, `muxfer recv: unexpected argument "b": recv takes one ADDR (see muxfer recv --help)`},
		{[]string{"chat"}, "muxfer chat: missing ADDR (see muxfer chat --help)"},
		{[]string{"ls"}, "muxfer ls: missing ADDR (see muxfer ls --help)"},
		{[]string{"ls", "a", "b", "c"}, `muxfer ls: unexpected argument "c": ls takes ADDR and at most one PATH (see muxfer ls --help)`},
		{[]string{"get", "a"}, "muxfer get: missing PATH (see muxfer get --help)"},
		{[]string{"chat", "a", "--key", "k", "--key-file", "f"}, "muxfer chat: give --key or --key-file, not both (see muxfer chat --help)"},
		{[]string{"serve", "x"}, `muxfer serve: unexpected argument "x" (see muxfer serve --help)`},
		{[]string{"serve", "--max-size", "lots"}, `muxfer serve: invalid value "lots" for flag --max-size: not a size: "lots" (try 500M or 10G) (see muxfer serve --help)`},
		{[]string{"serve", "--hold", "soon"}, `muxfer serve: invalid value "soon" for flag --hold: not a duration: "soon" (try 7d or 36h) (see muxfer serve --help)`},
		{[]string{"held"}, "muxfer held: missing ADDR (see muxfer held --help)"},
		{[]string{"demo", "x"}, `muxfer demo: unexpected argument "x" (see muxfer demo --help)`},
		{[]string{"keygen", "x"}, `muxfer keygen: unexpected argument "x" (see muxfer keygen --help)`},
		{[]string{"version", "x"}, `muxfer version: unexpected argument "x" (see muxfer version --help)`},
		{[]string{"completion"}, "muxfer completion: give one shell: bash, zsh, fish or powershell (see muxfer completion --help)"},
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
			h, err := hubtest.StartServe(t, bin, nil, "--listen", tt.listen, "--dir", t.TempDir())
			if err != nil {
				// The port is another program's, or there is no IPv6 loopback.
				t.Skipf("no hub on %s: %v", tt.listen, err)
			}
			if !strings.HasSuffix(h.Addr, ":7878") {
				t.Fatalf("serve --listen %s listens on %s, want port 7878", tt.listen, h.Addr)
			}
			_, key := h.KeyLine(t)
			ci := []string{key, "XDG_CONFIG_HOME=" + t.TempDir()} // one person, who sends twice
			for _, addr := range tt.clients {
				code, out, errs := runBinary(t, bin, ci, "send", addr, "../../testdata/hello.txt", "--progress", "never", "--name", "ci")
				if code != exitOK || !strings.Contains(out, "connected to "+h.Addr) {
					t.Errorf("send %s: exit %d, stdout %q, stderr %q; want it connected to %s", addr, code, out, errs, h.Addr)
				}
			}
			h.Stop(t)
		})
	}
}

// TestBinaryFailingStartCreatesNothing: serve on a port that is taken,
// and recv or chat to an address where nothing listens, fail before they
// create anything: no --dir folder, and no hub key.
func TestBinaryFailingStartCreatesNothing(t *testing.T) {
	bin := buildBinary(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	closed := closedAddr(t)
	key := keyEnv + "=" + mux.NewKey().Text()
	for _, tt := range []struct {
		name string
		args []string // the folder it must not create is added as --dir
		want string
	}{
		{"serve on a busy port", []string{"serve", "--listen", taken.Addr().String()}, "address already in use"},
		{"recv to a refused address", []string{"recv", closed, "--yes"}, "connect to " + closed},
		{"chat to a refused address", []string{"chat", closed}, "connect to " + closed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "new")
			config := t.TempDir()
			code, _, errs := runBinary(t, bin, []string{key, "XDG_CONFIG_HOME=" + config}, append(tt.args, "--dir", dir)...)
			if code != exitFailed || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, exitFailed, tt.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("--dir %s is there after a failed start (%v)", dir, err)
			}
			if _, err := os.Stat(filepath.Join(config, "muxfer", "hub.key")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a hub key was created by a failed start (%v)", err)
			}
		})
	}
}

// TestBinaryServePrintsTheKeyOnlyWhenCreated: the line with the secret key
// goes to stdout, which a service's log keeps, at the start that creates
// the key and with --print-key, never at every start.
func TestBinaryServePrintsTheKeyOnlyWhenCreated(t *testing.T) {
	bin := buildBinary(t)
	config := []string{"XDG_CONFIG_HOME=" + t.TempDir()}
	start := func(args ...string) *hubtest.Serve {
		t.Helper()
		h, err := hubtest.StartServe(t, bin, config, append([]string{"--listen", "127.0.0.1:0", "--dir", t.TempDir()}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	first := start()
	_, created := first.KeyLine(t)
	if _, rest := first.Stop(t); len(rest) != 0 {
		t.Errorf("serve printed more than the key line: %q", rest)
	}
	again := start()
	if log, out := again.Stop(t); len(out) != 0 || strings.Contains(log, created) {
		t.Errorf("a second start printed %q (log %q); want nothing on stdout and no key in the log", out, log)
	}
	asked := start("--print-key")
	if _, got := asked.KeyLine(t); got != created {
		t.Errorf("serve --print-key printed %q, want %q", got, created)
	}
	asked.Stop(t)
}
