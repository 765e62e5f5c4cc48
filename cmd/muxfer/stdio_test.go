package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// privateTmp points TMPDIR, where send --stdin and recv --stdout keep
// their copies, at an empty folder of the test's, and returns it. Its
// first t.TempDir makes the test's temporary root outside that folder, so
// the test's own folders stay out of it.
func privateTmp(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	return dir
}

// leftNothing fails the test if anything is left in dir.
func leftNothing(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left in the temporary folder: %s", e.Name())
	}
}

// stdinCases are the standard inputs sent as one file: megabytes of
// random bytes with a testdata file after them, and nothing at all.
func stdinCases(t *testing.T) []struct {
	name string
	data []byte
} {
	t.Helper()
	random := make([]byte, 3<<20+12345)
	rand.Read(random)
	hello, err := os.ReadFile("../../testdata/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	return []struct {
		name string
		data []byte
	}{
		{"random bytes and a testdata file", append(random, hello...)},
		{"empty", nil},
	}
}

func sum(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

// TestSendStdinStoresOneFileOnTheHub: send --stdin NAME stores standard
// input on the hub as the file NAME, byte for byte, and leaves nothing in
// the temporary folder.
func TestSendStdinStoresOneFileOnTheHub(t *testing.T) {
	for _, tt := range stdinCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			h := hubtest.Start(t, hub.Config{})
			tmp := privateTmp(t)
			code, out, errs := runCmd(t, string(tt.data), "send", h.Addr, "--stdin", "dir.tar", "--json", "--progress", "never")
			if code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s", code, errs)
			}
			got, err := os.ReadFile(filepath.Join(h.Dir, "dir.tar"))
			if err != nil {
				t.Fatal(err)
			}
			if sum(got) != sum(tt.data) {
				t.Errorf("the hub stored %d bytes (sha256 %s), want %d (%s)", len(got), sum(got), len(tt.data), sum(tt.data))
			}
			events := jsonLines(t, out)
			var read, files float64 = -1, -1
			for _, ev := range events {
				switch ev["type"] {
				case "stdin":
					read = ev["bytes"].(float64)
				case "summary":
					files = ev["files"].(float64)
				}
			}
			if read != float64(len(tt.data)) || files != 1 {
				t.Errorf("events say %v bytes read and %v files sent, want %d and 1:\n%s", read, files, len(tt.data), out)
			}
			leftNothing(t, tmp)
		})
	}
}

// recvRun is a `muxfer recv` running in the test's process; once exited
// is closed, code, out and errb hold how it ended.
type recvRun struct {
	out, errb bytes.Buffer
	code      int
	exited    chan struct{}
}

// startRecv runs `muxfer recv ADDR ARGS...` with the key of h, and returns
// once the hub lists a client called name. The test's end interrupts it
// and waits for it.
func startRecv(t *testing.T, h *hubtest.Hub, name string, args ...string) *recvRun {
	t.Helper()
	getenv := func(n string) string {
		if n == keyEnv {
			return h.Key.Text()
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	r := &recvRun{exited: make(chan struct{})}
	go func() {
		defer close(r.exited)
		r.code = run(env{stdin: strings.NewReader(""), stdout: &r.out, stderr: &r.errb, ctx: ctx, getenv: ownConfig(t, getenv)},
			append([]string{"recv", h.Addr, "--name", name}, args...))
	}()
	t.Cleanup(func() {
		cancel()
		<-r.exited
	})
	waitForClient(t, h, name, r.exited, func() string { return fmt.Sprintf("exit %d: %s", r.code, r.errb.String()) })
	return r
}

// wait returns recv's exit code once it has exited by itself.
func (r *recvRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-r.exited:
		return r.code
	case <-time.After(30 * time.Second):
		t.Fatal("recv did not exit")
		return 0
	}
}

// TestSendStdinToRecvStdout: what goes into send --to bob --stdin comes
// out of bob's recv --stdout exactly, recv exits 0 after the one file,
// its messages (JSON here) go to stderr, and neither side leaves anything
// in the temporary folder.
func TestSendStdinToRecvStdout(t *testing.T) {
	for _, tt := range stdinCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			h := hubtest.Start(t, hub.Config{})
			tmp := privateTmp(t)
			r := startRecv(t, h, "bob", "--stdout", "--yes", "--json")
			code, out, errs := runCmd(t, string(tt.data), "send", h.Addr, "--to", "bob", "--stdin", "dir.tar", "--progress", "never")
			if code != exitOK {
				t.Fatalf("send: exit %d\n%s%s", code, out, errs)
			}
			if c := r.wait(t); c != exitOK {
				t.Fatalf("recv: exit %d; stderr:\n%s", c, r.errb.String())
			}
			if got := r.out.Bytes(); sum(got) != sum(tt.data) {
				t.Errorf("recv wrote %d bytes (sha256 %s), want %d (%s)", len(got), sum(got), len(tt.data), sum(tt.data))
			}
			received := false
			for _, ev := range jsonLines(t, r.errb.String()) {
				received = received || ev["type"] == "received" && ev["stored"] == "dir.tar"
			}
			if !received {
				t.Errorf("recv's stderr has no received event for dir.tar:\n%s", r.errb.String())
			}
			leftNothing(t, tmp)
		})
	}
}

// TestRecvStdoutDeclinesFoldersAndSeveralFiles: recv --stdout declines an
// offer of a folder or of two files, its sender is told why, and recv
// waits on for a single file.
func TestRecvStdoutDeclinesFoldersAndSeveralFiles(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	src := hubtest.Testdata(t, "../../testdata")
	tmp := privateTmp(t)
	r := startRecv(t, h, "bob", "--stdout", "--yes")
	for _, tt := range []struct {
		name  string
		paths []string
		why   string
	}{
		{"a folder", []string{src}, "takes a single file, and this offer has 9 files and 10 folders"},
		{"two files", []string{filepath.Join(src, "hello.txt"), filepath.Join(src, "empty.txt")}, "takes a single file, and this offer has 2 files"},
	} {
		args := append([]string{"send", h.Addr, "--to", "bob", "--progress", "never", "--reconnect=false"}, tt.paths...)
		code, out, errs := runCmd(t, "", args...)
		if code == exitOK {
			t.Errorf("%s: send exited 0", tt.name)
		}
		if !strings.Contains(out+errs, "transfer refused: bob: muxfer recv --stdout "+tt.why) {
			t.Errorf("%s: the sender was not told why; stdout:\n%s\nstderr:\n%s", tt.name, out, errs)
		}
	}
	if code, out, errs := runCmd(t, "one file", "send", h.Addr, "--to", "bob", "--stdin", "one.txt"); code != exitOK {
		t.Fatalf("send --stdin after the declined offers: exit %d\n%s%s", code, out, errs)
	}
	if c := r.wait(t); c != exitOK || r.out.String() != "one file" {
		t.Errorf("recv: exit %d, stdout %q; want 0 and the one file; stderr:\n%s", c, r.out.String(), r.errb.String())
	}
	if strings.Count(r.errb.String(), "* declined an offer from") != 2 {
		t.Errorf("recv does not report the two offers it declined:\n%s", r.errb.String())
	}
	leftNothing(t, tmp)
}

// TestRecvStdoutFailedFileWritesNothing: the sender's connection cut in
// the middle of the file makes recv --stdout exit 1 with nothing on
// stdout, and remove what it had received.
func TestRecvStdoutFailedFileWritesNothing(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	proxy := hubtest.StartProxy(t, h.Addr)
	tmp := privateTmp(t)
	r := startRecv(t, h, "bob", "--stdout", "--yes")
	cut := make(chan struct{})
	go func() {
		// Cut the sender's link once bob holds part of the file.
		defer close(cut)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for deadline := time.After(20 * time.Second); ; {
			select {
			case <-tick.C:
			case <-deadline:
				proxy.Cut()
				return
			}
			parts, _ := filepath.Glob(filepath.Join(tmp, "muxfer-recv-*", ".muxfer-*.part"))
			if len(parts) > 0 {
				proxy.Cut()
				return
			}
		}
	}()
	data := make([]byte, 4<<20)
	rand.Read(data)
	getenv := func(n string) string {
		if n == keyEnv {
			return h.Key.Text()
		}
		return ""
	}
	code, _, errs := runCmdEnv(t, getenv, string(data), "send", proxy.Addr, "--to", "bob", "--stdin", "big.bin",
		"--limit-rate", "1M", "--reconnect=false", "--progress", "never")
	<-cut
	if code != exitConnLost {
		t.Errorf("send: exit %d, want %d; stderr:\n%s", code, exitConnLost, errs)
	}
	if c := r.wait(t); c != exitFailed {
		t.Errorf("recv: exit %d, want %d; stderr:\n%s", c, exitFailed, r.errb.String())
	}
	if r.out.Len() != 0 {
		t.Errorf("recv wrote %d bytes of a failed file to stdout", r.out.Len())
	}
	if e := r.errb.String(); !strings.Contains(e, "file not received") && !strings.Contains(e, "left without sending the file") {
		t.Errorf("recv's stderr does not say the file failed:\n%s", e)
	}
	leftNothing(t, tmp)
}

// TestSendStdinStopsCleanly: whatever ends a send of standard input
// (stdin failing, an interrupt while a read of it waits, a hub that
// cannot be reached), send says why, does not wait for standard input,
// and leaves nothing in the temporary folder.
func TestSendStdinStopsCleanly(t *testing.T) {
	closed := closedAddr(t)
	live := hubtest.Start(t, hub.Config{})
	tests := []struct {
		name string
		addr string
		// stdin is what send reads; interrupt is Ctrl-C, and a read may
		// wait for release, which comes once send has exited.
		stdin func(interrupt func(), release <-chan struct{}) io.Reader
		code  int
		says  string // on stderr, or with the files' report on stdout
	}{
		{"stdin fails", live.Addr, func(func(), <-chan struct{}) io.Reader {
			return io.MultiReader(strings.NewReader("some bytes"), iotest.ErrReader(errors.New("disk on fire")))
		}, exitFailed, "reading standard input: disk on fire"},
		{"interrupted while reading stdin", live.Addr, func(interrupt func(), release <-chan struct{}) io.Reader {
			return readerFunc(func([]byte) (int, error) {
				interrupt() // and stay blocked, as a read from a terminal does
				<-release
				return 0, io.EOF
			})
		}, exitInterrupted, "interrupted"},
		{"hub unreachable", closed, func(func(), <-chan struct{}) io.Reader { return strings.NewReader("bytes") }, exitFailed, "connect to " + closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := privateTmp(t)
			ctx, interrupt := context.WithCancel(context.Background())
			defer interrupt()
			release := make(chan struct{})
			var out, errb bytes.Buffer
			getenv := func(n string) string {
				if n == keyEnv {
					if tt.addr == live.Addr {
						return live.Key.Text()
					}
					return mux.NewKey().Text()
				}
				return ""
			}
			code := run(env{stdin: tt.stdin(interrupt, release), stdout: &out, stderr: &errb, ctx: ctx, getenv: ownConfig(t, getenv)},
				[]string{"send", tt.addr, "--stdin", "x.bin", "--reconnect=false", "--progress", "never"})
			close(release)
			// A failed file is reported with the others, on stdout.
			if code != tt.code || !strings.Contains(out.String()+errb.String(), tt.says) {
				t.Errorf("exit %d, stderr %q, stdout %q; want %d and %q", code, errb.String(), out.String(), tt.code, tt.says)
			}
			leftNothing(t, tmp)
		})
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestStdioUsageErrors: --stdin with PATHs or with a NAME that is not one
// safe file name, and --stdout with --dir, are usage errors that say why,
// and leave nothing in the temporary folder.
func TestStdioUsageErrors(t *testing.T) {
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"send", "127.0.0.1:1", "--stdin", "x.tar", "a.txt"}, `--stdin sends standard input, not PATHs: remove "a.txt"`},
		{[]string{"send", "--stdin", "x.tar"}, "missing ADDR"},
		{[]string{"send", "127.0.0.1:1", "--stdin", "dir/x.tar"}, `--stdin "dir/x.tar": NAME is a file name, without / or \`},
		{[]string{"send", "127.0.0.1:1", "--stdin", `dir\x.tar`}, "NAME is a file name"},
		{[]string{"send", "127.0.0.1:1", "--stdin", ".."}, `--stdin: unsafe path "..": contains ..`},
		{[]string{"send", "127.0.0.1:1", "--stdin", "CON.txt"}, "reserved device name"},
		{[]string{"send", "127.0.0.1:1", "--stdin", ".muxfer-records"}, "receiver's partial files"},
		{[]string{"send", "127.0.0.1:1", "--stdin", ""}, "--stdin needs a NAME"},
		{[]string{"recv", "127.0.0.1:1", "--stdout", "--dir", "d", "--yes"}, "--stdout and --dir"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			tmp := privateTmp(t)
			code, _, errs := runCmd(t, "stdin", tt.args...)
			if code != exitUsage || !strings.Contains(errs, tt.stderr) {
				t.Errorf("exit %d, stderr:\n%s\nwant %d and %q", code, errs, exitUsage, tt.stderr)
			}
			leftNothing(t, tmp)
		})
	}
}

// TestOneFileTakesOneRegularFile: the offers recv --stdout lets through.
func TestOneFileTakesOneRegularFile(t *testing.T) {
	file := protocol.File{Path: "a.txt", Size: 3}
	dir := protocol.File{Path: "d", Dir: true}
	tests := []struct {
		name  string
		taken bool
		files []protocol.File
		why   string // "" lets the offer through
	}{
		{"one file", false, []protocol.File{file}, ""},
		{"one empty file", false, []protocol.File{{Path: "e"}}, ""},
		{"two files", false, []protocol.File{file, {Path: "b"}}, "this offer has 2 files"},
		{"a folder", false, []protocol.File{dir}, "this offer has 0 files and 1 folder"},
		{"a file in a folder", false, []protocol.File{dir, {Path: "d/a"}}, "this offer has 1 file and 1 folder"},
		{"nothing", false, nil, "this offer has 0 files"},
		{"one file after the one", true, []protocol.File{file}, "has taken a file already"},
	}
	for _, tt := range tests {
		o := &oneFile{taken: tt.taken}
		why := o.refusal(client.Offer{Files: tt.files})
		if tt.why == "" && why != "" || tt.why != "" && !strings.Contains(why, tt.why) {
			t.Errorf("%s: refusal %q, want %q", tt.name, why, tt.why)
		}
	}
}
