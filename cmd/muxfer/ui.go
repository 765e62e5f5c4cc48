package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/internal/termui"
	"github.com/muxfer/muxfer/internal/units"
	"github.com/muxfer/muxfer/protocol"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// ui prints events, one line each, as text or as JSON objects on stdout,
// and shows progress. It is safe for concurrent use: everything it draws
// goes through ui.mu.
//
// Progress is drawn by one renderer (meter.go) in one of two places. In
// the interactive chat (readLines on a terminal) a termui.Screen owns the
// terminal: a status line per transfer, a summary bar and the prompt,
// redrawn below every line printed. Elsewhere, with progress on, the same
// lines go to a strip at the bottom of stderr (a termui.Screen without a
// prompt): a line printed on stdout is printed by erasing the strip,
// writing the line, and drawing the strip again below it.
type ui struct {
	out      io.Writer
	errw     io.Writer
	json     bool
	progress bool // show progress: the strip on errw, or the screen's status lines and bar

	mu       sync.Mutex
	meters   []*meter                 // running transfers, oldest first (meter.go)
	ended    int64                    // bytes of the transfers that ended while others ran
	since    time.Time                // when bytes first moved since no transfer ran
	sum      *progressbar.ProgressBar // the summary bar, rendered into no writer (meter.go)
	sumWidth int                      // the width sum was made for
	strip    *termui.Screen           // progress on stderr while no screen is attached; nil when progress is off
	scr      *termui.Screen           // the interactive terminal's screen, while readLines has it
	input    termui.Input             // readLines' line editor, for closeInput (terminal.go)
}

// addProgressFlag defines --progress, whose value newUI takes.
func addProgressFlag(cmd *cobra.Command) *string {
	p := cmd.Flags().String("progress", "auto", "progress bar on stderr, `auto|always|never`: auto draws it when stderr is a terminal")
	_ = cmd.RegisterFlagCompletionFunc("progress", cobra.FixedCompletions([]string{"auto", "always", "never"}, cobra.ShellCompDirectiveNoFileComp))
	return p
}

// lineOutput returns out itself if it is a terminal or not a file, and
// otherwise a termui.LineWriter on it: a send of 5,000 files prints a line
// each, which a write each would make slow.
func lineOutput(out io.Writer) io.Writer {
	f, ok := out.(*os.File)
	if !ok || isTerminal(f) {
		return out
	}
	return termui.NewLineWriter(f)
}

// newUI decides where progress goes: mode is auto (a bar when stderr is a
// terminal), always or never.
func newUI(out, errw io.Writer, jsonOut bool, mode string) (*ui, error) {
	u := &ui{out: lineOutput(out), errw: errw, json: jsonOut}
	switch mode {
	case "auto", "":
		f, ok := errw.(*os.File)
		u.progress = ok && isTerminal(f)
	case "always":
		u.progress = true
	case "never":
	default:
		return nil, usageError{fmt.Sprintf("--progress must be auto, always or never, not %q", mode)}
	}
	if u.progress {
		size := func() (int, int) { return 80, 24 } // --progress always into a file
		if f, ok := errw.(*os.File); ok && isTerminal(f) {
			size = func() (int, int) { return termui.Size(f) }
		}
		u.strip = termui.NewStrip(errw, size, u.regionLocked)
	}
	return u, nil
}

// close writes out the lines queued for stdout and ends the goroutine
// that writes them (see termui.LineWriter); whoever made the ui calls it before
// returning.
func (u *ui) close() {
	u.mu.Lock()
	if u.strip != nil {
		u.strip.Clear()
	}
	u.mu.Unlock()
	if l, ok := u.out.(*termui.LineWriter); ok {
		l.Close()
	}
}

// line prints one text line above the bar.
func (u *ui) line(format string, args ...any) {
	u.print(fmt.Sprintf(format, args...))
}

// print prints lines of text, each as one line above the bar: a newline
// inside one shows as \x0a (printLocked), so a caller that means several
// lines passes them one by one.
func (u *ui) print(lines ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.printLocked(lines...)
}

// event prints v as one JSON line in JSON mode, or the lines of text
// otherwise.
func (u *ui) event(v any, text ...string) {
	if !u.json {
		u.print(text...)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"type": "error", "text": err.Error()}) // not complain: it would come back here
	}
	u.printJSON(b)
}

// printJSON prints the encoded JSON value b as one line, with the
// characters that hide or reverse text escaped (termui.EscapeJSON).
func (u *ui) printJSON(b []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.printLocked(termui.EscapeJSON(string(b)))
}

// printLocked is the one place where the ui's lines reach its output:
// stdout, or the interactive terminal's screen. Any line may hold what a
// peer sent, so each is made safe here, whatever called: a control
// character or an invisible one shows as an escape, and a newline in a
// line shows as \x0a instead of starting a line that could pass for
// someone else's. A JSON line that termui.EscapeJSON escaped comes out unchanged.
func (u *ui) printLocked(lines ...string) {
	shown := make([]string, len(lines))
	for i, l := range lines {
		shown[i] = safe(l)
	}
	if u.scr != nil {
		u.scr.Print(shown...)
		return
	}
	if u.strip != nil {
		u.strip.Clear()
	}
	for _, l := range shown {
		fmt.Fprintln(u.out, l)
	}
	if u.strip != nil {
		u.strip.Redraw()
	}
}

// readLines sends each line of stdin to lines until stdin ends (nil) or
// fails, or ctx is done (nil). Lines are at most protocol.MaxChatLen
// bytes: a longer one is an error.
//
// When stdin and stdout are a terminal and the output is text, it runs a
// line editor instead (terminal.go): lines printed meanwhile appear above
// the line being typed, which stays intact below them with the progress
// of every transfer. Ctrl-D on an empty line ends input; Ctrl-C
// interrupts, as in cooked mode. The terminal is restored before
// readLines returns, and when closeInput is called.
func (u *ui) readLines(ctx context.Context, stdin io.Reader, lines chan<- string) error {
	if in, out, ok := u.interactive(stdin); ok {
		return u.edit(ctx, in, out, lines)
	}
	return scanLines(ctx, stdin, lines)
}

// scanLines is readLines for a pipe or a file: lines as bufio.Scanner
// splits them.
func scanLines(ctx context.Context, stdin io.Reader, lines chan<- string) error {
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), protocol.MaxChatLen+1)
	for sc.Scan() {
		select {
		case lines <- sc.Text():
		case <-ctx.Done():
			return nil
		}
	}
	return sc.Err()
}

// message prints something the hub said.
func (u *ui) message(m protocol.Message) { u.heard("", m) }

// heard prints something the hub said to the client that tag names (the
// demo runs two clients).
func (u *ui) heard(tag string, m protocol.Message) {
	var text string
	switch m := m.(type) {
	case protocol.Chat:
		text = fmt.Sprintf("<%s> %s", m.From, m.Text)
		if m.To != "" {
			text = "[private] " + text
		}
	case protocol.Presence:
		switch m.Event {
		case protocol.Join:
			text = fmt.Sprintf("* %s joined", m.Client.Name)
		case protocol.Leave:
			text = fmt.Sprintf("* %s left", m.Client.Name)
		case protocol.Rename:
			text = fmt.Sprintf("* %s is now %s", m.OldName, m.Client.Name)
		default:
			text = fmt.Sprintf("* %s: %s", m.Client.Name, m.Event)
		}
	case protocol.Clients:
		names := make([]string, len(m.Clients))
		for i, c := range m.Clients {
			running := ""
			if c.Transfers > 0 {
				running = ", " + plural(c.Transfers, "transfer")
			}
			if fp := client.PeerFingerprint(c.Identity); fp != "" {
				running += ", key " + fp
			}
			names[i] = fmt.Sprintf("%s (%s, idle %s%s)", c.Name, c.Addr,
				(time.Duration(c.IdleMS) * time.Millisecond).Round(time.Second), running)
		}
		text = fmt.Sprintf("* %d connected: %s", len(m.Clients), strings.Join(names, ", "))
	case protocol.Error:
		text = "! hub: " + m.Text
	case protocol.Bye:
		text = "* hub said goodbye: " + m.Reason
	case protocol.Notice:
		text = "* hub: " + m.Text
		if m.Code == protocol.NoticeNoClient {
			text = "! " + m.Text
		}
	default:
		text = "* " + m.Type()
	}
	if !u.json {
		u.line("%s%s", tag, text)
		return
	}
	b, _ := protocol.Encode(m)
	u.printJSON(b)
}

// fileEvent is the JSON form of a finished file; its status is the
// report's (client.Delivered and the others).
type fileEvent struct {
	Type string `json:"type"` // "file"
	client.FileReport
}

// file prints the outcome of a file sent to to (the hub if ""), its line
// after tag.
func (u *ui) file(tag, to string, r client.FileReport) {
	if r.Status == client.Unconfirmed || r.Status == client.NotSent {
		return // in the summary, or sent again after a reconnect
	}
	text := fmt.Sprintf("%sverified %s (%s) %.23s…", tag, r.Path, size(r.Size), r.Hash)
	if r.Stored != r.Path && r.OK() {
		text += " stored as " + r.Stored
	}
	switch {
	case !r.OK():
		text = fmt.Sprintf("%s%s %s: %s", tag, strings.ToUpper(r.Status), r.Path, r.Err)
	case r.Resumed > 0 && r.Resumed >= r.Size:
		text += " " + alreadyAt(to)
	case r.Resumed > 0:
		text += fmt.Sprintf(" (resumed at %s)", size(r.Resumed))
	}
	u.event(fileEvent{Type: "file", FileReport: r}, text)
}

// alreadyAt says that the bytes of a file were at the receiver before the
// send: the hub's ("already there"), or those of the client to whom they
// were relayed ("already with bob").
func alreadyAt(to string) string {
	if to == "" {
		return "already there"
	}
	return "already with " + to
}

// problem prints err as a line of complaint, "! " and its text, or an
// error event in JSON, where a command goes on after it (chat, recv).
func (u *ui) problem(err error) { u.complain(err.Error(), "! "+err.Error()) }

// complain prints a line of complaint: line as text ("! nick: name
// taken"), or in JSON an error event that says text ("name taken").
func (u *ui) complain(text, line string) {
	u.event(map[string]string{"type": "error", "text": text}, line)
}

// plural writes "1 file", "2 files".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// finish prints the summary of a send to the client called to (the hub
// if ""), its line after tag (the demo names its client), and returns
// err, or errFilesFailed if some file was not delivered. It does
// not print err: the caller does, once (main on stderr, chat as a line).
func (u *ui) finish(tag, to string, rep *client.Report, err error) error {
	u.summary(tag, to, rep, err)
	if err != nil {
		return err
	}
	if rep.Failed() > 0 {
		return errFilesFailed
	}
	return nil
}

type summaryEvent struct {
	Type    string              `json:"type"` // "summary"
	Files   int                 `json:"files"`
	Failed  int                 `json:"failed"`
	Dirs    int                 `json:"dirs"`
	Bytes   int64               `json:"bytes"`   // of the files delivered
	Resumed int64               `json:"resumed"` // of those, what the hub held already
	Seconds float64             `json:"seconds"`
	Rate    float64             `json:"bytes_per_second"` // of the bytes that moved
	Error   string              `json:"error,omitempty"`
	List    []client.FileReport `json:"list"`
}

func (u *ui) summary(tag, to string, rep *client.Report, err error) {
	ev := summaryEvent{Type: "summary", Files: len(rep.Files), Failed: rep.Failed(), Dirs: rep.Dirs,
		Bytes: rep.Bytes, Seconds: rep.Elapsed.Seconds(), List: rep.Files}
	for _, f := range rep.Files {
		if f.OK() {
			ev.Resumed += f.Resumed
		}
	}
	took := rep.Moving // the time the bytes took, not the wait for an answer
	if took <= 0 {
		took = rep.Elapsed
	}
	if s := took.Seconds(); s > 0 {
		ev.Rate = float64(rep.Bytes-ev.Resumed) / s
	}
	if err != nil {
		ev.Error = err.Error()
	}
	text := fmt.Sprintf("%ssent %d of %d files (%s", tag, len(rep.Files)-ev.Failed, len(rep.Files), size(rep.Bytes))
	switch {
	case ev.Resumed > 0 && ev.Resumed == rep.Bytes:
		text += fmt.Sprintf(", %s) in %s", alreadyAt(to), rep.Elapsed.Round(time.Millisecond))
	case ev.Resumed > 0:
		where := "on the hub"
		if to != "" {
			where = "with " + to
		}
		text += fmt.Sprintf(", %s of it already %s) in %s, %s/s", size(ev.Resumed), where, rep.Elapsed.Round(time.Millisecond), size(int64(ev.Rate)))
	default:
		text += fmt.Sprintf(") in %s, %s/s", rep.Elapsed.Round(time.Millisecond), size(int64(ev.Rate)))
	}
	u.event(ev, text)
}

var termIsTerminal = term.IsTerminal

// size writes a byte count as muxfer writes them everywhere (units.Bytes):
// "1.5 KiB", "64.0 MiB".
func size(n int64) string { return units.Bytes(n) }
