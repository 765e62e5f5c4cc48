package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runCmd runs one muxfer command line in-process, with MUXFER_KEY set to
// the key of the hub the command names (as a user would export it), or to
// some valid key when no test hub is there.
func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCmdEnv(t, func(name string) string {
		if name != keyEnv {
			return ""
		}
		if len(args) > 1 {
			if cfg := hubtest.ClientConfig(args[1]); !cfg.Key.IsZero() {
				return cfg.Key.Text()
			}
		}
		return mux.NewKey().Text()
	}, stdin, args...)
}

func runCmdEnv(t *testing.T, getenv func(string) string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code = run(env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, ctx: ctx, getenv: ownConfig(t, getenv)}, args)
	return code, out.String(), errb.String()
}

// ownConfig wraps getenv so that the command keeps its keys (send's
// resume key, serve's hub key, the identity) in a config directory of the
// test's own, never the user's, unless getenv gives one (an absolute
// path). Every command a test runs this way shares that directory, as the
// commands one person runs do: the names they use on a hub are that
// identity's.
func ownConfig(t *testing.T, getenv func(string) string) func(string) string {
	return func(name string) string {
		v := getenv(name)
		if name == "XDG_CONFIG_HOME" && !filepath.IsAbs(v) {
			v = testConfig(t)
		}
		return v
	}
}

// configs holds each test's config directory (see ownConfig).
var configs sync.Map // *testing.T -> string

func testConfig(t *testing.T) string {
	if dir, ok := configs.Load(t); ok {
		return dir.(string)
	}
	dir, _ := configs.LoadOrStore(t, t.TempDir())
	t.Cleanup(func() { configs.Delete(t) })
	return dir.(string)
}

func TestExitCodesAndMessages(t *testing.T) {
	closed := closedAddr(t)
	tests := []struct {
		name    string
		args    []string
		code    int
		stderr  string // a substring of stderr
		stdout  string // a substring of stdout
		nostdin bool
	}{
		{name: "no command", args: nil, code: exitUsage, stderr: "muxfer: missing command: serve, send"},
		{name: "unknown command", args: []string{"fly"}, code: exitUsage, stderr: `unknown command "fly"`},
		{name: "help", args: []string{"--help"}, code: exitOK, stdout: "muxfer demo"},
		{name: "version", args: []string{"version"}, code: exitOK, stdout: "(protocol 1)"},
		{name: "--version", args: []string{"--version"}, code: exitOK, stdout: "muxfer " + version},
		{name: "send --help", args: []string{"send", "--help"}, code: exitOK, stderr: "Examples:"},
		{name: "chat --help states the dead-peer bound", args: []string{"chat", "--help"}, code: exitOK, stderr: "noticed within 45 s"},
		{name: "bad flag", args: []string{"send", "--frobnicate", "x", "y"}, code: exitUsage, stderr: "flag provided but not defined"},
		{name: "send without paths", args: []string{"send", "127.0.0.1:1"}, code: exitUsage, stderr: "muxfer send: missing PATH (see muxfer send --help)\n"},
		{name: "bad --progress", args: []string{"send", "--progress", "sometimes", "a", "b"}, code: exitUsage, stderr: "--progress must be"},
		{name: "missing path", args: []string{"send", closed, "no/such/file"}, code: exitFailed, stderr: "no/such/file: no such file or directory"},
		{name: "unreachable hub", args: []string{"send", closed, "../../testdata/hello.txt"}, code: exitFailed, stderr: "connect to " + closed},
		{name: "chat unreachable", args: []string{"chat", closed}, code: exitFailed, stderr: "connect to " + closed},
		{name: "demo without data", args: []string{"demo", "--data", "no-such-folder"}, code: exitFailed, stderr: "no folder no-such-folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCmd(t, "", tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, errs)
			}
			if !strings.Contains(errs, tt.stderr) {
				t.Errorf("stderr %q does not contain %q", errs, tt.stderr)
			}
			if !strings.Contains(out, tt.stdout) {
				t.Errorf("stdout %q does not contain %q", out, tt.stdout)
			}
		})
	}
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestParseAcceptsFlagsAnywhere(t *testing.T) {
	tests := []struct {
		args      []string
		pos       []string
		parallel  int
		name      string
		reconnect bool
	}{
		{[]string{"send", "h", "a", "--parallel", "8"}, []string{"h", "a"}, 8, "", true},
		{[]string{"send", "--parallel=2", "h", "a", "b"}, []string{"h", "a", "b"}, 2, "", true},
		{[]string{"send", "h", "--parallel", "3", "a"}, []string{"h", "a"}, 3, "", true},
		{[]string{"send", "h", "--", "--parallel", "-x"}, []string{"h", "--parallel", "-x"}, 4, "", true},
		{[]string{"send", "h", "a", "--reconnect=false", "--name", "-x"}, []string{"h", "a"}, 4, "-x", false},
		// The single-dash long flags of Go's flag package, as typed before.
		{[]string{"send", "-parallel", "5", "h", "-name", "alice", "a", "-reconnect=false"}, []string{"h", "a"}, 5, "alice", false},
		{[]string{"send", "-parallel=6", "h", "-", "--", "-name"}, []string{"h", "-", "-name"}, 6, "", true},
	}
	for _, tt := range tests {
		cmd, pos, err := parseLine(tt.args)
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		parallel, _ := cmd.Flags().GetInt("parallel")
		name, _ := cmd.Flags().GetString("name")
		reconnect, _ := cmd.Flags().GetBool("reconnect")
		if tt.name == "" {
			tt.name = defaultName()
		}
		if !slices.Equal(pos, tt.pos) || parallel != tt.parallel || name != tt.name || reconnect != tt.reconnect {
			t.Errorf("%q: arguments %q, --parallel %d, --name %q, --reconnect %v; want %q, %d, %q, %v",
				tt.args, pos, parallel, name, reconnect, tt.pos, tt.parallel, tt.name, tt.reconnect)
		}
	}
}

func TestSendJSONUploadsTestdata(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	code, out, errs := runCmd(t, "", "send", h.Addr, "../../testdata", "--json", "--parallel", "2", "--name", "ci")
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errs)
	}
	hubtest.SameTree(t, "../../testdata", filepath.Join(h.Dir, "testdata"))
	events := jsonLines(t, out)
	counts := map[string]int{}
	for _, ev := range events {
		counts[ev["type"].(string)]++
		if ev["type"] == "file" && ev["status"] != "delivered" {
			t.Errorf("file event %v", ev)
		}
	}
	if counts["welcome"] != 1 || counts["file"] != 9 || counts["summary"] != 1 {
		t.Errorf("event counts %v, want 1 welcome, 9 files, 1 summary", counts)
	}
	last := events[len(events)-1]
	if last["type"] != "summary" || last["failed"].(float64) != 0 || len(last["list"].([]any)) != 9 {
		t.Errorf("last event %v, want a summary of 9 delivered files", last)
	}
}

// TestChatScriptedFromStdin drives chat the way a script would: lines on
// stdin, events as JSON lines on stdout.
func TestChatScriptedFromStdin(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	bob := hubtest.Dial(t, h.Addr, "bob")
	script := "hello bob\n/who\n/upload ../../testdata/hello.txt \"../../testdata/notes with spaces.md\"\n/nonsense\nbye now\n"
	code, out, errs := runCmd(t, script, "chat", h.Addr, "--name", "alice", "--json")
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, errs, out)
	}
	heard := bob.WaitFor(t, 10*time.Second, "alice's two lines", func(ms []protocol.Message) bool {
		return len(hubtest.Chats(ms)) == 2
	})
	if cs := hubtest.Chats(heard); cs[0].Text != "hello bob" || cs[1].Text != "bye now" || cs[0].From != "alice" {
		t.Errorf("bob heard %+v", cs)
	}
	types := map[string]int{}
	var sent []string
	events := jsonLines(t, out)
	for _, ev := range events {
		types[ev["type"].(string)]++
		if ev["type"] == "sent" {
			sent = append(sent, ev["text"].(string))
		}
	}
	if types["clients"] != 1 || types["file"] != 2 || types["summary"] != 1 || types["error"] != 1 || types["here"] != 1 {
		t.Errorf("event types %v, want 1 here, 1 clients, 2 file, 1 summary, 1 error (the unknown command)", types)
	}
	// After the welcome, the first event says who else is there; alice's
	// own lines show in order.
	if here, _ := events[1]["clients"].([]any); events[1]["type"] != "here" || len(here) != 1 || here[0].(map[string]any)["name"] != "bob" {
		t.Errorf("second event %v, want here with bob only", events[1])
	}
	if !slices.Equal(sent, []string{"hello bob", "bye now"}) {
		t.Errorf("alice's own lines printed as %q, want hello bob and bye now", sent)
	}
	hubtest.SameTree(t, "../../testdata/hello.txt", filepath.Join(h.Dir, "hello.txt"))
}

func TestChatTextModeShowsEvents(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	bob := hubtest.Dial(t, h.Addr, "bob")
	code, out, errs := runCmd(t, "/who\n/quit\nnot sent\n", "chat", h.Addr, "--name", "alice")
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errs)
	}
	for _, want := range []string{"* connected to " + h.Addr + " as alice", "* here: bob (1 other)", "* 2 connected: bob (", "alice ("} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if cs := hubtest.Chats(bob.Heard()); len(cs) != 0 {
		t.Errorf("bob heard %v after /quit", cs)
	}
}

func TestDemo(t *testing.T) {
	code, out, errs := runCmd(t, "", "demo", "--data", "../../testdata", "--progress", "never")
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, errs, out)
	}
	for _, want := range []string{"bob   | <alice> hi bob", "alice | <bob> thanks!", "verified testdata/binary/random.bin", "all 9 files stored by the hub match", "bob   | > /accept 1", "all 9 files bob received match ../../testdata byte for byte"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

func TestSafeEscapesTerminalControls(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain ünï 日本", "plain ünï 日本"},
		{"\x1b[2Jgone", `\x1b[2Jgone`},
		{"over\rwrite", `over\x0dwrite`},
		{"back\bspace", `back\x08space`},
		{"evil\u202etxt.exe", `evil\u202etxt.exe`},
		{"bell\a", `bell\x07`},
		{"c1\u009b31m", `c1\x9b31m`},
	}
	for _, tt := range tests {
		if got := safe(tt.in); got != tt.want {
			t.Errorf("safe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"a b", []string{"a", "b"}},
		{`"my file.txt" other`, []string{"my file.txt", "other"}},
		{`it\'s 'single "q"'`, []string{"it's", `single "q"`}},
		{`  spaced   out `, []string{"spaced", "out"}},
		{`""`, []string{""}},
	}
	for _, tt := range tests {
		got, err := splitArgs(tt.in)
		if err != nil || strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := splitArgs(`"open`); err == nil {
		t.Error("unfinished quote accepted")
	}
}

func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		if _, ok := ev["type"].(string); !ok {
			t.Fatalf("event without a type: %q", sc.Text())
		}
		evs = append(evs, ev)
	}
	return evs
}

// TestSendReportsHubGoneMidTransfer stops the hub while a large file is on
// its way, for good: send tries to reconnect until --give-up, then exits 3
// naming the file it was sending, why the connection ended, and why it
// could not come back.
func TestSendReportsHubGoneMidTransfer(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	src := filepath.Join(t.TempDir(), "huge.bin")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: 8 GiB that cost no disk, and far more than loopback moves
	// before the hub is stopped.
	if err := f.Truncate(8 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	go func() {
		// Stop the hub once its .part exists: the transfer is under way.
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for range 4000 { // 20 s at most
			<-tick.C
			parts, _ := filepath.Glob(filepath.Join(h.Dir, ".muxfer-*.part"))
			if len(parts) > 0 {
				h.Close()
				return
			}
		}
	}()
	code, _, errs := runCmd(t, "", "send", h.Addr, src, "--progress", "never", "--give-up", "1s", "--reconnect-max", "200ms")
	if code != exitConnLost {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitConnLost, errs)
	}
	for _, want := range []string{"connection lost while sending huge.bin", "shutting down", "gave up reconnecting after 1s", "connection refused"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr %q should say %q", errs, want)
		}
	}
}

func TestChatRefusesOverlongLineAndQuitCancelsUploads(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	big := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(8 << 30); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	long := strings.Repeat("x", protocol.MaxChatLen+1)
	code, out, errs := runCmd(t, long+"\n/upload "+big+"\n/quit\n", "chat", h.Addr, "--name", "q")
	if code != exitFailed {
		t.Errorf("exit %d after /quit cut an upload short, want %d; stderr:\n%s", code, exitFailed, errs)
	}
	if !strings.Contains(out, "over the limit of 16384") {
		t.Errorf("no error for the overlong line:\n%s", out)
	}
	if !strings.Contains(out, "sent 0 of 1 files") {
		t.Errorf("no summary of the cancelled upload:\n%s", out)
	}
	if len(h.Clients()) > 1 {
		t.Errorf("hub lists %v", h.Clients())
	}
}

// TestProgressBarShowsNamesSafely: a file name with an escape sequence is
// drawn in the bar (and in the per-file line) with the escape made visible.
func TestProgressBarShowsNamesSafely(t *testing.T) {
	var out, errb bytes.Buffer
	u, err := newUI(&out, &errb, false, "always")
	if err != nil {
		t.Fatal(err)
	}
	evil := "x\x1b[2J\x1b]0;pwned\a\u202egpj.exe"
	up := u.upload("")
	up.started(1, 100)
	up.opened(evil)
	up.wrote(50, 0)
	rep := client.FileReport{Path: evil, Size: 100, Hash: "xxh3-128:00", Stored: evil, Status: client.Delivered}
	u.file("", "", rep)
	up.end()
	u.finish("", "", &client.Report{Files: []client.FileReport{rep}}, nil)
	if !strings.Contains(errb.String(), `x\x1b[2J`) {
		t.Errorf("the bar does not show the name escaped: %q", errb.String())
	}
	for _, w := range []string{errb.String(), out.String()} {
		if strings.ContainsAny(w, "\a\u202e") || strings.Contains(w, "\x1b[2J") || strings.Contains(w, "\x1b]0") {
			t.Errorf("raw control sequence reached the terminal: %q", w)
		}
	}
	if !strings.Contains(out.String(), `x\x1b[2J`) {
		t.Errorf("the name is not shown escaped: %q", out.String())
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"512", 512, true}, {"4K", 4 << 10, true}, {"10M", 10 << 20, true},
		{"2g", 2 << 30, true}, {"1TiB", 1 << 40, true}, {"3GB", 3 << 30, true},
		{"", 0, false}, {"-1", 0, false}, {"ten", 0, false}, {"9999999999T", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestChatScriptFasterThanTheHubAllowsIsPaced: a script that pipes more
// lines than the hub's chat burst is slowed down to the rate the hub
// announced, not disconnected.
func TestChatScriptFasterThanTheHubAllowsIsPaced(t *testing.T) {
	h := hubtest.Start(t, hub.Config{ChatMessagesPerSecond: 50, ChatBurst: 20})
	bob := hubtest.Dial(t, h.Addr, "bob")
	var script strings.Builder
	const lines = 120 // six bursts' worth
	for i := range lines {
		fmt.Fprintf(&script, "line %d\n", i)
	}
	code, _, errs := runCmd(t, script.String(), "chat", h.Addr, "--name", "script")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	bob.WaitFor(t, 20*time.Second, "every line", func(ms []protocol.Message) bool { return len(hubtest.Chats(ms)) == lines })
}

// chatRun is a `muxfer chat` running in the test's process: typing is its
// standard input, and done gets its exit code, after which out and errb
// hold its output.
type chatRun struct {
	typing    *io.PipeWriter
	out, errb bytes.Buffer
	done      chan int
}

// startChat runs `muxfer chat ADDR ARGS...` with the access key of h until
// typing is closed, or for at most a minute (the test's end cancels it).
func startChat(t *testing.T, h *hubtest.Hub, addr string, args ...string) *chatRun {
	t.Helper()
	stdin, typing := io.Pipe()
	c := &chatRun{typing: typing, done: make(chan int, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	getenv := func(n string) string {
		if n == keyEnv {
			return h.Key.Text()
		}
		return ""
	}
	go func() {
		c.done <- run(env{stdin: stdin, stdout: &c.out, stderr: &c.errb, ctx: ctx, getenv: ownConfig(t, getenv)},
			append([]string{"chat", addr}, args...))
	}()
	return c
}

// TestChatReconnectsAndKeepsItsName: a chat whose connection is cut says
// so, reconnects under the same name, and delivers the line typed while
// it was away.
func TestChatReconnectsAndKeepsItsName(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	proxy := hubtest.StartProxy(t, h.Addr)
	bob := hubtest.Dial(t, h.Addr, "bob")
	c := startChat(t, h, proxy.Addr, "--name", "alice", "--reconnect-max", "200ms")
	heard := func(text string) func([]protocol.Message) bool {
		return func(ms []protocol.Message) bool {
			for _, c := range hubtest.Chats(ms) {
				if c.Text == text && c.From == "alice" {
					return true
				}
			}
			return false
		}
	}
	io.WriteString(c.typing, "before the cut\n")
	bob.WaitFor(t, 10*time.Second, "the first line", heard("before the cut"))
	proxy.Cut()
	io.WriteString(c.typing, "after the cut\n")
	defer func() {
		if t.Failed() {
			t.Logf("out: %s\nerr: %s", c.out.String(), c.errb.String())
		}
	}()
	bob.WaitFor(t, 20*time.Second, "the line typed after the cut, from alice", heard("after the cut"))
	c.typing.Close()
	if code := <-c.done; code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, c.errb.String())
	}
	if !strings.Contains(c.out.String(), "* connection lost") || strings.Count(c.out.String(), "as alice") != 2 {
		t.Errorf("output does not show the loss and the reconnection as alice:\n%s", c.out.String())
	}
}

// TestSendInterruptedSaysWhatArrived: Ctrl-C (the context ends) in the
// middle of a large file exits 130 after a summary that lists the file
// delivered before it and the one cancelled; the hub keeps the cancelled
// file's part, and the same send run again resumes it.
func TestSendInterruptedSaysWhatArrived(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	src := filepath.Join(t.TempDir(), "dir")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("first\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(src, "z.bin"))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(256 << 20) // sparse; far more than moves before the interrupt
	f.Close()
	getenv := ownConfig(t, func(n string) string {
		if n == keyEnv {
			return h.Key.Text()
		}
		return ""
	})
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	go func() {
		// Interrupt once the big file is well under way on the hub (or
		// after 30 s, when the test's checks say what went wrong).
		within(30*time.Second, func() bool {
			parts, _ := filepath.Glob(filepath.Join(h.Dir, "dir", ".muxfer-*.part"))
			if len(parts) != 1 {
				return false
			}
			info, err := os.Stat(parts[0])
			return err == nil && info.Size() > 8<<20
		})
		interrupt()
	}()
	var out, errb bytes.Buffer
	code := run(env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, ctx: ctx, getenv: getenv},
		[]string{"send", h.Addr, src, "--json", "--parallel", "1"})
	if code != exitInterrupted || !strings.Contains(errb.String(), "interrupted") {
		t.Fatalf("exit %d, stderr %q; want %d, interrupted", code, errb.String(), exitInterrupted)
	}
	evs := jsonLines(t, out.String())
	last := evs[len(evs)-1]
	if last["type"] != "summary" {
		t.Fatalf("last event %v, want the summary", last)
	}
	status := map[string]string{}
	for _, f := range last["list"].([]any) {
		f := f.(map[string]any)
		status[f["path"].(string)] = f["status"].(string)
	}
	if status["dir/a.txt"] != "delivered" || status["dir/z.bin"] != "cancelled" || len(status) != 2 {
		t.Errorf("summary lists %v, want a.txt delivered and z.bin cancelled", status)
	}

	code, stdout, errs := runCmdEnv(t, getenv, "", "send", h.Addr, src, "--json")
	if code != exitOK {
		t.Fatalf("send again: exit %d, %s", code, errs)
	}
	evs = jsonLines(t, stdout)
	if sum := evs[len(evs)-1]; sum["type"] != "summary" || sum["resumed"].(float64) < 8<<20 {
		t.Errorf("summary %v, want the bytes the hub held counted as resumed", sum)
	}
	for _, ev := range evs {
		if ev["type"] == "file" && ev["path"] == "dir/z.bin" {
			if resumed, _ := ev["resumed"].(float64); resumed < 8<<20 {
				t.Errorf("z.bin resumed at %v, want after the 8 MiB the hub held", ev["resumed"])
			}
		}
	}
	if _, err := os.Stat(filepath.Join(h.Dir, "dir", "a (1).txt")); err == nil {
		t.Error("a.txt was stored twice")
	}
}
