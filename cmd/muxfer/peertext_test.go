package main

// What a peer writes reaches this client's output escaped, on every path:
// a recipient's reject reason in a sender's summary and last error line,
// through a pipe, in --json and on a terminal, and a chat line drawn on
// the interactive chat's screen.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/internal/termui"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// forgery is what a hostile recipient gives as its reason for refusing
// an offer: an OSC that sets the window title, a CSI that clears the
// screen, a right-to-left override, and a newline before a line that
// looks like alice's chat.
const forgery = "no\x1b]0;pwned by bob\a\x1b[2J\u202eevil\n<alice> please paste your MUXFER_KEY here"

// forgeryShown is forgery as muxfer shows it in text.
const forgeryShown = `no\x1b]0;pwned by bob\x07\x1b[2J\u202eevil\x0a<alice> please paste your MUXFER_KEY here`

// rejectingPeer connects a client called name to the hub at addr that
// refuses every offer made to it, giving reason.
func rejectingPeer(t *testing.T, addr, name, reason string) *hubtest.Client {
	t.Helper()
	var self atomic.Pointer[client.Client]
	c := hubtest.DialConfig(t, addr, client.Config{Name: name, Inbox: t.TempDir(), OnOffer: func(o protocol.Offer) client.Decision {
		if c := self.Load(); c != nil && c.Decline(o.Transfer, reason) == nil {
			return client.Ask // answered already
		}
		return client.Decline
	}})
	self.Store(c.Client)
	return c
}

// checkNothingForged fails the test if out holds a control character or
// an invisible one as it is, or a line that starts as alice's chat line.
func checkNothingForged(t *testing.T, what, out string) {
	t.Helper()
	if r, ok := hiddenRune(strings.ReplaceAll(out, "\n", "")); ok {
		t.Errorf("%s holds %U as it is:\n%q", what, r, out)
	}
	for l := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "<alice>") {
			t.Errorf("%s has a forged line %q", what, l)
		}
	}
}

// TestRejectReasonReachesTheSenderEscaped runs the real binary as the
// sender, its output going to pipes, against a recipient that refuses
// with forgery: send --to and chat with piped input, in text and in
// --json. The reason shows, escaped, once: in send's error line on
// stderr, or in chat's line of complaint; in JSON the summary's error
// decodes to what the recipient sent.
func TestRejectReasonReachesTheSenderEscaped(t *testing.T) {
	bin := buildBinary(t)
	h := hubtest.Start(t, hub.Config{})
	rejectingPeer(t, h.Addr, "bob", forgery)
	alice := "XDG_CONFIG_HOME=" + t.TempDir() // her identity, in every run
	file := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(file, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		stdin string
		json  bool
		// errLine: the command ends with its error on stderr (chat's
		// failed upload was reported in a line of its own already).
		errLine bool
	}{
		{"send --to", []string{"send", h.Addr, "--to", "bob", file}, "", false, true},
		{"chat with piped input", []string{"chat", h.Addr}, "/send bob " + shellQuote(file) + "\n", false, false},
		{"send --to --json", []string{"send", h.Addr, "--to", "bob", file, "--json"}, "", true, true},
		{"chat --json with piped input", []string{"chat", h.Addr, "--json"}, "/send bob " + shellQuote(file) + "\n", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append(tt.args, "--name", "alice", "--progress", "never")...)
			cmd.Env = append(os.Environ(), keyEnv+"="+h.Key.Text(), alice)
			cmd.Stdin = strings.NewReader(tt.stdin)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err == nil {
				t.Fatalf("exit 0 after bob refused; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			}
			out, errs := stdout.String(), stderr.String()
			checkNothingForged(t, "stdout", out)
			checkNothingForged(t, "stderr", errs)
			if tt.errLine {
				if want := "muxfer: transfer refused: bob: " + forgeryShown + "\n"; !strings.HasSuffix(errs, want) {
					t.Errorf("stderr does not end with %q:\n%s", want, errs)
				}
			}
			if !tt.json {
				want := "! transfer refused: bob: " + forgeryShown + "\n" // chat's line
				if tt.errLine {
					want = "muxfer: transfer refused: bob: " + forgeryShown + "\n"
				}
				if !strings.Contains(out, "sent 0 of 1 files") || strings.Count(out+errs, "transfer refused") != 1 || !strings.Contains(out+errs, want) {
					t.Errorf("want the summary, and the reason escaped once, as %q; stdout:\n%s\nstderr:\n%s", want, out, errs)
				}
				return
			}
			var sum summaryEvent
			for _, ev := range strings.Split(strings.TrimSpace(out), "\n") {
				if strings.Contains(ev, `"type":"summary"`) {
					if err := json.Unmarshal([]byte(ev), &sum); err != nil {
						t.Fatalf("summary %s: %v", ev, err)
					}
				}
			}
			if sum.Error != "transfer refused: bob: "+forgery {
				t.Errorf("summary's error %q, want the reason bob gave:\n%s", sum.Error, out)
			}
		})
	}
}

// TestRejectReasonOnATerminalIsEscaped runs the sender in a real terminal
// (tmux) against a recipient that refuses with forgery: the window title
// stays, nothing is cleared, no line passes for alice's, and the reason
// is shown escaped. In the interactive chat, bob's chat line with the
// same forgery stays one line too.
func TestRejectReasonOnATerminalIsEscaped(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: this test runs muxfer in a real terminal through tmux (.ci/run installs it)")
	}
	bin := buildBinary(t)
	h := hubtest.Start(t, hub.Config{})
	bob := rejectingPeer(t, h.Addr, "bob", forgery)
	alice := "XDG_CONFIG_HOME=" + t.TempDir() // her identity, in every run
	file := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(file, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	send := fmt.Sprintf("%s send %s --name alice --to bob %s", shellQuote(bin), h.Addr, shellQuote(file))
	piped := fmt.Sprintf("echo %s | %s chat %s --name alice", shellQuote("/send bob "+file), shellQuote(bin), h.Addr)
	tests := []struct {
		name, cmd string
		shown     []string // rows that must be on the screen, each a substring of one
	}{
		{"send --to", send, []string{"muxfer: transfer refused: bob: " + forgeryShown}},
		{"chat with piped input", piped, []string{"! transfer refused: bob: " + forgeryShown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := []string{keyEnv + "=" + h.Key.Text(), alice}
			// read: the pane stays alive, as it is, until the test ends.
			p := startTmux(t, 220, 30, env, tt.cmd+`; echo "exit=$?"; read x`)
			end := p.waitFor("the command to end", func(s pane) string {
				if s.find("exit=") < 0 {
					return "still running"
				}
				return ""
			})
			checkPane(t, p, end, append(tt.shown, "* connected to", "exit=1")...)
			if n := strings.Count(end.String(), "transfer refused"); n != 1 {
				t.Errorf("the reason shows %d times, want once:\n%s", n, end)
			}
		})
	}

	t.Run("interactive chat", func(t *testing.T) {
		env := []string{keyEnv + "=" + h.Key.Text(), alice}
		p := startTmux(t, 220, 30, env, fmt.Sprintf(`%s chat %s --name alice; echo "exit=$?"; read x`, shellQuote(bin), h.Addr))
		p.waitFor("the prompt", func(s pane) string {
			if len(s.rows) == 0 || s.rows[len(s.rows)-1] != ">" {
				return "no prompt yet"
			}
			return ""
		})
		if err := bob.Chat("hi" + forgery[2:]); err != nil {
			t.Fatal(err)
		}
		p.typeKeys("/send bob "+shellQuote(file), "Enter")
		shown := p.waitFor("bob's line and the refusal", func(s pane) string {
			if s.find("<bob> hi") < 0 || s.find("! transfer refused: bob: ") < 0 {
				return "not shown yet"
			}
			return ""
		})
		checkPane(t, p, shown, "* connected to", "<bob> hi"+forgeryShown[2:], "! transfer refused: bob: "+forgeryShown)
		p.typeKeys("", "C-d")
		p.waitFor("the chat to end", func(s pane) string {
			if s.find("exit=") < 0 {
				return "still running"
			}
			return ""
		})
	})
}

// checkPane fails the test if the terminal's title was set, if a row
// starts as alice's chat line, or if a row of shown is not on the screen
// (a peer's clear screen would have erased "* connected to", say).
func checkPane(t *testing.T, p *tmuxPane, s pane, shown ...string) {
	t.Helper()
	if title := strings.TrimSpace(p.tmux("display-message", "-p", "-t", "test", "#{pane_title}")); strings.Contains(title, "pwned") {
		t.Errorf("a peer set the terminal's title to %q", title)
	}
	for _, r := range s.rows {
		if strings.HasPrefix(strings.TrimSpace(r), "<alice>") {
			t.Errorf("a peer forged the row %q:\n%s", r, s)
		}
	}
	for _, want := range shown {
		if s.find(want) < 0 {
			t.Errorf("the terminal does not show %q:\n%s", want, s)
		}
	}
}

// TestJSONEventsHideNoBidiOrInvisibleCharacter: in --json, chat lines
// (which go out in the protocol's own encoding) and the ui's events carry
// a peer's bidi and invisible characters escaped, and mean what was sent.
func TestJSONEventsHideNoBidiOrInvisibleCharacter(t *testing.T) {
	var out bytes.Buffer
	u, err := newUI(&out, &bytes.Buffer{}, true, "never")
	if err != nil {
		t.Fatal(err)
	}
	evil := "moc.elgoog\u202e//:sptth \u200b\u2066x\u2069 \ufeff\u00ad\U000e0041\u2028"
	u.message(protocol.Chat{From: "bo\u200bb", Text: evil})
	u.file("", "", transfer.FileReport{Path: evil, Status: transfer.Failed, Err: evil})
	u.summary("", "bob", &transfer.Report{}, errors.New("transfer refused: bob: "+evil))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), out.String())
	}
	for _, l := range lines {
		if r, ok := hiddenRune(l); ok {
			t.Errorf("%U reached the JSON output as it is: %s", r, l)
		}
	}
	var chat protocol.Chat
	if err := json.Unmarshal([]byte(lines[0]), &chat); err != nil || chat.Text != evil || chat.From != "bo\u200bb" {
		t.Errorf("chat line %s decodes to %+v (%v), want the text sent", lines[0], chat, err)
	}
	var sum summaryEvent
	if err := json.Unmarshal([]byte(lines[2]), &sum); err != nil || sum.Error != "transfer refused: bob: "+evil {
		t.Errorf("summary %s decodes to %q (%v), want the reason as the peer gave it", lines[2], sum.Error, err)
	}
}

// TestTextOutputKeepsAPeersNewlineInItsLine: whatever prints a peer's
// words in text (a chat line, an offer's file names, a reject reason in
// the summary, the last error line), a newline in them shows as \x0a and
// starts no line of its own.
func TestTextOutputKeepsAPeersNewlineInItsLine(t *testing.T) {
	const forged = "\n<alice> please paste your MUXFER_KEY here"
	var out bytes.Buffer
	u, err := newUI(&out, &bytes.Buffer{}, false, "never")
	if err != nil {
		t.Fatal(err)
	}
	v := newView(u, "inbox")
	u.message(protocol.Chat{From: "bob", Text: "hi" + forged})
	u.message(protocol.Presence{Event: protocol.Join, Client: protocol.ClientInfo{Name: "eve" + forged}})
	v.show(client.Offered{Offer: client.Offer{N: 1, From: "bob" + forged, Transfer: "t1", Files: []protocol.File{{Path: "a.txt" + forged, Size: 1}}, Decision: client.Ask}})
	u.summary("", "bob", &transfer.Report{}, errors.New("transfer refused: bob: no"+forged))
	var errb bytes.Buffer
	exitCode(env{stderr: &errb}, errors.New("transfer refused: bob: no"+forged))

	text := out.String() + errb.String()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 6 { // chat, join, offer and its one file, summary, error
		t.Errorf("%d lines, want 6:\n%s", len(lines), text)
	}
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "<alice>") {
			t.Errorf("a peer started a line of its own: %q", l)
		}
	}
	for _, want := range []string{
		`<bob> hi\x0a<alice> please paste`,
		`* eve\x0a<alice> please paste your MUXFER_KEY here joined`,
		`* bob\x0a<alice> please paste your MUXFER_KEY here offers 1 file`,
		`    a.txt\x0a<alice> please paste your MUXFER_KEY here  1 B`,
		`muxfer: transfer refused: bob: no\x0a<alice> please paste your MUXFER_KEY here`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

// TestScreenDrawsAPeersLineBreakInsideItsLine: on the interactive chat's
// screen, a peer's text that breaks the line (newline, CR, NEL, the
// Unicode separators) and goes on as alice's line is drawn as one row,
// the break escaped, whether it came as a chat line or as a recipient's
// reason in an upload's summary.
func TestScreenDrawsAPeersLineBreakInsideItsLine(t *testing.T) {
	const fake = "<alice> please paste your MUXFER_KEY here"
	paths := []struct {
		name  string
		print func(u *ui, text string)
	}{
		{"chat line", func(u *ui, text string) { u.message(protocol.Chat{From: "bob", Text: text}) }},
		{"reject reason in the line of complaint", func(u *ui, text string) {
			u.problem(errors.New("transfer refused: bob: " + text))
		}},
	}
	breaks := []struct{ name, brk, shown string }{
		{"newline", "\n", `\x0a`},
		{"CR LF", "\r\n", `\x0d\x0a`},
		{"CR", "\r", `\x0d`},
		{"NEL", "\u0085", `\x85`},
		{"line separator", "\u2028", `\u2028`},
		{"paragraph separator", "\u2029", `\u2029`},
	}
	for _, p := range paths {
		for _, b := range breaks {
			t.Run(p.name+", "+b.name, func(t *testing.T) {
				u, _, v := attachedUI(t, 150, 10, false)
				p.print(u, "hi"+b.brk+fake)
				redraw(u)
				rows := v.All()
				want := "hi" + b.shown + fake
				if len(rows) != 2 || !strings.HasSuffix(rows[0], want) || rows[1] != ">" {
					t.Errorf("screen shows\n%s\nwant one row ending in %q above the prompt", strings.Join(rows, "\n"), want)
				}
			})
		}
	}
}

// hiddenRune returns the first character of s that termui.Unsafe names.
func hiddenRune(s string) (rune, bool) {
	for _, r := range s {
		if termui.Unsafe(r) || r == utf8.RuneError {
			return r, true
		}
	}
	return 0, false
}
