package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
)

// tmuxPane is a command running in a terminal of its own: a detached
// tmux session on a tmux server of the test's own, whose socket is in a
// folder of the test's own; t.Cleanup kills that server.
type tmuxPane struct {
	t      *testing.T
	socket string
}

// startTmux runs shellCmd (sh syntax) in a new cols×rows terminal. The
// pane stays after the command exits, so that its last output can be
// read.
func startTmux(t *testing.T, cols, rows int, env []string, shellCmd string) *tmuxPane {
	t.Helper()
	// Not t.TempDir: a socket's path must be short (108 bytes at most).
	dir, err := os.MkdirTemp("", "muxfer-tmux")
	if err != nil {
		t.Fatal(err)
	}
	p := &tmuxPane{t: t, socket: filepath.Join(dir, "s")}
	t.Cleanup(func() {
		exec.Command("tmux", "-S", p.socket, "kill-server").Run()
		os.RemoveAll(dir)
	})
	cmd := exec.Command("tmux", "-S", p.socket, "-f", "/dev/null",
		"new-session", "-d", "-x", strconv.Itoa(cols), "-y", strconv.Itoa(rows), "-s", "test", shellCmd,
		";", "set-option", "-g", "remain-on-exit", "on")
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(v string) bool { return strings.HasPrefix(v, "TMUX=") }),
		append([]string{"SHELL=/bin/sh"}, env...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	return p
}

func (p *tmuxPane) tmux(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", p.socket}, args...)...).Output()
	if err != nil {
		p.t.Fatalf("tmux %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// typeKeys types text as it is; keys are tmux key names (Enter, C-c).
func (p *tmuxPane) typeKeys(text string, keys ...string) {
	p.t.Helper()
	if text != "" {
		p.tmux("send-keys", "-t", "test", "-l", text)
	}
	if len(keys) > 0 {
		p.tmux(append([]string{"send-keys", "-t", "test"}, keys...)...)
	}
}

// pane is what the terminal shows: its rows, trailing blanks cut, down to
// the last that is not blank, and the cursor.
type pane struct {
	rows []string
	x, y int
}

func (s pane) String() string {
	return fmt.Sprintf("cursor at %d,%d\n%s", s.x, s.y, strings.Join(s.rows, "\n"))
}

// find returns the index of the first row containing all of want, or -1.
func (s pane) find(want ...string) int {
	return slices.IndexFunc(s.rows, func(r string) bool {
		for _, w := range want {
			if !strings.Contains(r, w) {
				return false
			}
		}
		return true
	})
}

func (p *tmuxPane) capture() pane {
	p.t.Helper()
	var s pane
	// One tmux command for both, so that they agree.
	out := p.tmux("display-message", "-p", "-t", "test", "#{cursor_x} #{cursor_y}", ";", "capture-pane", "-p", "-t", "test")
	head, body, _ := strings.Cut(out, "\n")
	if _, err := fmt.Sscanf(head, "%d %d", &s.x, &s.y); err != nil {
		p.t.Fatalf("tmux cursor %q: %v", head, err)
	}
	s.rows = strings.Split(strings.TrimRight(body, "\n"), "\n")
	for i, r := range s.rows {
		s.rows[i] = strings.TrimRight(r, " ")
	}
	for len(s.rows) > 0 && s.rows[len(s.rows)-1] == "" {
		s.rows = s.rows[:len(s.rows)-1]
	}
	return s
}

// waitFor polls the pane until ok holds for what it shows, or fails the
// test after 20 s with the last screen. ok returns why not, or "".
func (p *tmuxPane) waitFor(what string, ok func(pane) string) pane {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond) // polling tmux, bounded by the deadline
	defer tick.Stop()
	for {
		s := p.capture()
		why := ok(s)
		if why == "" {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waiting for %s: %s\n%s", what, why, s)
		}
		<-tick.C
	}
}

// TestInteractiveChatInATerminal runs muxfer chat in a real terminal
// (tmux): a line typed halfway survives lines that arrive and an upload's
// progress redrawn below them, and goes out exactly once finished; Ctrl-C
// then interrupts the chat (exit 130) and leaves the terminal as it was.
func TestInteractiveChatInATerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: this test drives muxfer chat in a real terminal through tmux (.ci/run installs it)")
	}
	bin := buildBinary(t)
	h := hubtest.Start(t, hub.Config{})
	bob := hubtest.Dial(t, h.Addr, "bob")
	big := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse; at --limit-rate 256K it takes minutes: the bar runs
	// throughout the test, which Ctrl-C ends.
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	env := []string{keyEnv + "=" + h.Key.Text(), "XDG_CONFIG_HOME=" + t.TempDir()}
	p := startTmux(t, 100, 30, env, fmt.Sprintf(`%s chat %s --name alice --limit-rate 256K; echo "exit=$?"; stty -a; echo "(stty done)"`, shellQuote(bin), h.Addr))

	promptIs := func(want string) func(pane) string {
		return func(s pane) string {
			if len(s.rows) == 0 || s.rows[len(s.rows)-1] != strings.TrimRight(want, " ") || s.y != len(s.rows)-1 || s.x != runesWidth([]rune(want)) {
				return fmt.Sprintf("want the prompt row %q last, with the cursor after it", want)
			}
			return ""
		}
	}
	p.waitFor("the prompt", promptIs("> "))

	// chat's command to upload: /upload, or /send before /send PATH
	// became /send NICK PATH.
	upload := "/send"
	if strings.Contains(chatHelp, "/upload PATH") {
		upload = "/upload"
	}
	p.typeKeys(upload+" "+shellQuote(big), "Enter")
	p.waitFor("the upload's status line and bar", func(s pane) string {
		if s.find("upload  big.bin", "%", "KiB/s") < 0 || s.find("1 up", "%", "|") < 0 {
			return "no status line for big.bin and no summary bar"
		}
		return ""
	})

	p.typeKeys("hello wör")
	p.waitFor("the line typed so far", promptIs("> hello wör"))
	incoming := []string{"first incoming line", "second \x1b[2J line", "third incoming line"}
	for _, l := range incoming {
		if err := bob.Chat(l); err != nil {
			t.Fatal(err)
		}
	}
	shown := p.waitFor("bob's lines above the region, the typed line intact", func(s pane) string {
		if why := promptIs("> hello wör")(s); why != "" {
			return why
		}
		last := -1
		for _, l := range incoming {
			i := s.find("<bob> " + safe(l))
			if i <= last {
				return fmt.Sprintf("no %q below the lines before it", "<bob> "+safe(l))
			}
			last = i
		}
		status, bar := s.find("upload  big.bin", "%"), s.find("1 up", "%")
		if !(last < status && status < bar && bar == len(s.rows)-2) {
			return fmt.Sprintf("lines at ..%d, status line at %d, bar at %d: want them in that order, the bar just above the prompt", last, status, bar)
		}
		return ""
	})
	t.Logf("the terminal while the upload runs:\n%s", shown)

	p.typeKeys("ld", "Enter")
	bob.WaitFor(t, 10*time.Second, "alice's line", func(ms []protocol.Message) bool {
		return slices.ContainsFunc(hubtest.Chats(ms), func(c protocol.Chat) bool { return c.From == "alice" })
	})
	p.waitFor("an empty prompt below the line sent", func(s pane) string {
		if s.find("> hello wörld") < 0 {
			return "the line sent is not shown above"
		}
		return promptIs("> ")(s)
	})

	p.typeKeys("", "C-c")
	end := p.waitFor("the chat to end", func(s pane) string {
		if s.find("(stty done)") < 0 {
			return "still running"
		}
		return ""
	})
	var said []string
	for _, c := range hubtest.Chats(bob.Heard()) {
		if c.From == "alice" {
			said = append(said, c.Text)
		}
	}
	if len(said) != 1 || said[0] != "hello wörld" {
		t.Errorf("bob heard %q from alice, want only \"hello wörld\"", said)
	}
	if end.find("exit=130") < 0 || end.find("muxfer: interrupted") < 0 {
		t.Errorf("Ctrl-C: want exit 130 after \"interrupted\"\n%s", end)
	}
	for _, mode := range []string{"icanon", "echo", "icrnl", "opost"} {
		on := regexp.MustCompile(`(^|[ ;])` + mode + `([ ;]|$)`)
		if !slices.ContainsFunc(end.rows, on.MatchString) {
			t.Errorf("stty -a after the chat lacks %q: the terminal was not restored\n%s", mode, end)
		}
	}
}

// regionFits checks that the rows that hold progress (the last n) are
// narrower than cols and that each of want starts exactly one row:
// nothing wrapped, nothing stale left above.
func regionFits(s pane, cols, n int, want ...string) string {
	if len(s.rows) < n {
		return "no region yet"
	}
	for _, r := range s.rows[len(s.rows)-n:] {
		if runesWidth([]rune(r)) >= cols {
			return fmt.Sprintf("row %q is as wide as the terminal", r)
		}
	}
	for _, w := range want {
		count := 0
		for _, r := range s.rows {
			if strings.HasPrefix(r, w) {
				count++
			}
		}
		if count != 1 {
			return fmt.Sprintf("%d rows start with %q, want one", count, w)
		}
	}
	return ""
}

// sparseFile makes a file of size bytes, sparse, in a folder of the
// test's own: at --limit-rate 256K, 64 MiB takes minutes, so progress runs
// throughout a test.
func sparseFile(t *testing.T, name string, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return path
}

// percentOf is the percentage on the first row that starts with prefix,
// or -1.
func percentOf(s pane, prefix string) int {
	for _, r := range s.rows {
		if !strings.HasPrefix(r, prefix) {
			continue
		}
		if m := regexp.MustCompile(`(\d+)%`).FindStringSubmatch(r); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	return -1
}

// TestProgressFitsANarrowTerminal: in a terminal 40 columns wide, send's
// progress on stderr is redrawn in place, never wider than the terminal;
// in send and in the chat, a window made narrower mid-transfer leaves no
// stale status line behind.
func TestProgressFitsANarrowTerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: this test drives muxfer in a real terminal through tmux (.ci/run installs it)")
	}
	bin := buildBinary(t)
	h := hubtest.Start(t, hub.Config{})
	env := []string{keyEnv + "=" + h.Key.Text(), "XDG_CONFIG_HOME=" + t.TempDir()}

	t.Run("send", func(t *testing.T) {
		big := sparseFile(t, "send.bin", 64<<20)
		p := startTmux(t, 40, 15, env, fmt.Sprintf(`%s send %s %s --limit-rate 256K`, shellQuote(bin), h.Addr, shellQuote(big)))
		p.waitFor("1% of progress, redrawn in place many times", func(s pane) string {
			if percentOf(s, "1 up") < 1 {
				return "not 1% yet"
			}
			return regionFits(s, 40, 2, "upload", "1 up")
		})
	})
	t.Run("send made narrower", func(t *testing.T) {
		big := sparseFile(t, "narrower.bin", 64<<20)
		p := startTmux(t, 100, 15, env, fmt.Sprintf(`%s send %s %s --limit-rate 256K`, shellQuote(bin), h.Addr, shellQuote(big)))
		p.waitFor("the upload's status line, wide", func(s pane) string {
			if s.find("upload  narrower.bin", "KiB/s") < 0 || s.find("1 up", "KiB/s", "[") < 0 {
				return "no status line and bar"
			}
			return ""
		})
		p.tmux("resize-window", "-t", "test", "-x", "40")
		p.waitFor("the strip redrawn 40 columns wide", func(s pane) string {
			return regionFits(s, 40, 2, "upload", "1 up")
		})
	})
	t.Run("chat made narrower", func(t *testing.T) {
		big := sparseFile(t, "chat.bin", 64<<20)
		p := startTmux(t, 100, 15, env, fmt.Sprintf(`%s chat %s --name alice --limit-rate 256K`, shellQuote(bin), h.Addr))
		p.waitFor("the prompt", func(s pane) string {
			if len(s.rows) == 0 || s.rows[len(s.rows)-1] != ">" {
				return "no prompt yet"
			}
			return ""
		})
		p.typeKeys("/upload "+shellQuote(big), "Enter")
		p.waitFor("the upload's status line", func(s pane) string {
			if s.find("upload  chat.bin", "KiB/s") < 0 {
				return "no status line"
			}
			return ""
		})
		p.tmux("resize-window", "-t", "test", "-x", "40")
		p.waitFor("the region redrawn 40 columns wide", func(s pane) string {
			if why := regionFits(s, 40, 3, "upload", "1 up"); why != "" {
				return why
			}
			if s.rows[len(s.rows)-1] != ">" {
				return "the prompt is not last"
			}
			return ""
		})
	})
}

// TestSendToAPersonWaitsThenBothShowProgress: send --to bob says it waits
// for bob, with no bar and no rate, until bob answers; then both sides
// show the transfer's progress on their terminals (recv on stderr).
func TestSendToAPersonWaitsThenBothShowProgress(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: this test drives muxfer in a real terminal through tmux (.ci/run installs it)")
	}
	bin := buildBinary(t)
	h := hubtest.Start(t, hub.Config{})
	big := sparseFile(t, "big.bin", 64<<20)
	env := []string{keyEnv + "=" + h.Key.Text(), "XDG_CONFIG_HOME=" + t.TempDir()}
	bob := startTmux(t, 80, 15, env, fmt.Sprintf(`%s recv %s --name bob --dir %s`, shellQuote(bin), h.Addr, shellQuote(t.TempDir())))
	bob.waitFor("recv waiting", func(s pane) string {
		if s.find("waiting for files") < 0 {
			return "recv is not there yet"
		}
		return ""
	})
	alice := startTmux(t, 80, 15, env, fmt.Sprintf(`%s send %s --name alice --to bob %s --limit-rate 256K`, shellQuote(bin), h.Addr, shellQuote(big)))
	bob.waitFor("the offer", func(s pane) string {
		if s.find("alice offers", "accept?") < 0 {
			return "no offer yet"
		}
		return ""
	})
	alice.waitFor("the wait for bob, alone", func(s pane) string {
		if why := regionFits(s, 80, 1, "→ bob  waiting for bob to accept"); why != "" {
			return why
		}
		if s.find("1 up") >= 0 || s.find("/s") >= 0 {
			return "a bar or a rate while nothing moves"
		}
		return ""
	})
	bob.typeKeys("y", "Enter")
	alice.waitFor("alice's progress after the answer", func(s pane) string {
		if s.find("waiting for bob") >= 0 || s.find("→ bob  big.bin", "KiB/s") < 0 {
			return "no status line for the transfer"
		}
		return regionFits(s, 80, 2, "→ bob", "1 up")
	})
	bob.waitFor("bob's progress on his terminal", func(s pane) string {
		if s.find("← alice  big.bin", "KiB/s") < 0 {
			return "no status line for the download"
		}
		return regionFits(s, 80, 2, "← alice", "1 down")
	})
}
