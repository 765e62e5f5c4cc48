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

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
)

// privateTmp points TMPDIR, where send --stdin keeps its copy, at an
// empty folder of the test's, and returns it. Its first t.TempDir makes
// the test's temporary root outside that folder, so the test's own
// folders stay out of it.
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

// TestSendStdinRemovesItsCopy: the copy of standard input is removed
// whatever ends the send: stdin failing, an interrupt while it is being
// read, a hub that cannot be reached.
func TestSendStdinRemovesItsCopy(t *testing.T) {
	closed := closedAddr(t)
	tests := []struct {
		name string
		addr string
		// stdin is what send reads; interrupt is Ctrl-C, and a read may
		// wait for release, which comes once send has exited.
		stdin  func(interrupt func(), release <-chan struct{}) io.Reader
		code   int
		stderr string
	}{
		{"stdin fails", closed, func(func(), <-chan struct{}) io.Reader {
			return io.MultiReader(strings.NewReader("some bytes"), iotest.ErrReader(errors.New("disk on fire")))
		}, exitFailed, "storing standard input in "},
		{"interrupted while reading stdin", closed, func(interrupt func(), release <-chan struct{}) io.Reader {
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
					return mux.NewKey().Text()
				}
				return ""
			}
			code := run(env{stdin: tt.stdin(interrupt, release), stdout: &out, stderr: &errb, ctx: ctx, getenv: ownConfig(t, getenv)},
				[]string{"send", tt.addr, "--stdin", "x.bin", "--reconnect=false", "--progress", "never"})
			close(release)
			if code != tt.code || !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errb.String(), tt.code, tt.stderr)
			}
			leftNothing(t, tmp)
		})
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestStdioUsageErrors: --stdin with PATHs or with a NAME that is not one
// safe file name are usage errors that say why, and leave nothing in the
// temporary folder.
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
