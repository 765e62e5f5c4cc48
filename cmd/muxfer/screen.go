package main

// The interactive terminal of muxfer chat: when stdin and stdout are both
// a terminal (and output is not JSON), readLines puts the terminal in raw
// mode and runs the line editor of term.go, and the ui prints every line
// above a region at the bottom of the screen:
//
//	<bob> lines printed scroll up here, as usual
//	upload  big.iso  37%  1.6 GB of 4.3 GB  10.5 MB/s      one line per transfer
//	← alice  notes/today.md  file 2/3  80%  …              (with progress on)
//	1 up, 1 down  42% |██████████              | (1.9/4.5 GB, 12 MB/s) [2m31s:3m28s]
//	> the line being typed, cursor where it is
//
// A redraw goes back to the region's first row, clears to the end of the
// screen (ESC [ J), prints the new lines and draws the region again. No
// row of the region is as wide as the terminal, so none wraps, and the
// cursor always sits on the last row: going back up is one count.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// redrawEvery spaces out redraws for progress: a transfer reports every
// write, far more often than anyone can read. Lines and keys draw at once.
const redrawEvery = 100 * time.Millisecond

// screen is the region at the bottom of the interactive terminal and the
// line being typed in it. While it is attached (ui.scr), it alone writes
// to the terminal and moves the cursor; its methods run with ui.mu held.
type screen struct {
	w     io.Writer
	size  func() (cols, rows int)
	ed    editor
	dec   keyDecoder
	rows  int           // rows of the region as last drawn; the cursor is on the last
	last  time.Time     // when the region was last drawn
	dirty chan struct{} // progress changed since (capacity 1)
}

func newScreen(w io.Writer, size func() (cols, rows int)) *screen {
	return &screen{w: w, size: size, dirty: make(chan struct{}, 1)}
}

// poke notes that progress changed; the line editor's loop redraws.
func (s *screen) poke() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// erase writes to b what takes the cursor to the start of the region's
// first row and clears from there to the end of the screen.
func (s *screen) erase(b *bytes.Buffer) {
	b.WriteByte('\r')
	if s.rows > 1 {
		fmt.Fprintf(b, "\x1b[%dA", s.rows-1)
	}
	b.WriteString("\x1b[J")
	s.rows = 0
}

// draw prints the lines above (each already safe, none wider than it
// wants to wrap to) and then the region: the rows given, each narrower
// than the terminal, and the prompt row.
func (s *screen) draw(above, region []string) {
	cols, _ := s.size()
	var b bytes.Buffer
	s.erase(&b)
	for _, l := range above {
		b.WriteString(l)
		b.WriteString("\r\n") // raw mode: no newline translation
	}
	row, cursor := s.ed.view(cols)
	for _, l := range region {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	b.WriteString(row)
	s.rows = len(region) + 1
	s.column(&b, cursor)
	s.w.Write(b.Bytes())
	s.last = time.Now()
}

// drawPrompt redraws the prompt row alone, after a key.
func (s *screen) drawPrompt() {
	cols, _ := s.size()
	row, cursor := s.ed.view(cols)
	var b bytes.Buffer
	b.WriteByte('\r')
	b.WriteString(row)
	b.WriteString("\x1b[K")
	s.column(&b, cursor)
	s.w.Write(b.Bytes())
}

func (s *screen) column(b *bytes.Buffer, col int) {
	b.WriteByte('\r')
	if col > 0 {
		fmt.Fprintf(b, "\x1b[%dC", col)
	}
}

// clear erases the region for good: the cursor is left at the start of
// its first row, now empty, where cooked output goes on.
func (s *screen) clear() {
	var b bytes.Buffer
	s.erase(&b)
	s.w.Write(b.Bytes())
}

// drawLocked redraws the region, with lines printed above it first. Each
// line goes through safe once more: an error's text, say, may hold what a
// peer sent.
func (u *ui) drawLocked(above []string) {
	for i, l := range above {
		above[i] = safe(l)
	}
	cols, rows := u.scr.size()
	u.scr.draw(above, u.regionLocked(cols-1, rows))
}

// hold is readLines' hold on the terminal, for closeInput.
type hold struct {
	stop chan struct{} // closed by closeInput
	once sync.Once
	done chan struct{} // closed once the terminal is restored
}

// closeInput ends the terminal line editor, if readLines runs one, and
// returns once the terminal is back in the mode it was in, so that the
// process never exits with the terminal raw. (readLines restores it too
// when its ctx is done, but nothing may wait for readLines: with a pipe
// for stdin it stays blocked in a read.) It does nothing when stdin is not
// a terminal, and a readLines that starts after it reads lines without the
// editor.
func (u *ui) closeInput() {
	u.mu.Lock()
	u.inputClosed = true
	h := u.hold
	u.mu.Unlock()
	if h != nil {
		h.once.Do(func() { close(h.stop) })
		<-h.done
	}
}

// interactive reports whether readLines should run the line editor: stdin
// and stdout are the terminal, and the output is text.
func (u *ui) interactive(stdin io.Reader) (in, out *os.File, ok bool) {
	if u.json {
		return nil, nil, false
	}
	in, ok1 := stdin.(*os.File)
	out, ok2 := u.out.(*os.File)
	if !ok1 || !ok2 || !isTerminal(in) || !isTerminal(out) {
		return nil, nil, false
	}
	return in, out, true
}

// inputEnd is how the line editor ended.
type inputEnd int

const (
	endStopped   inputEnd = iota // ctx done or closeInput: the chat is ending
	endEOF                       // Ctrl-D on an empty line, or the terminal closed
	endInterrupt                 // Ctrl-C
)

// edit runs the line editor on the terminal in, drawing on out, and sends
// each line typed to lines. It returns nil at Ctrl-D on an empty line
// (after the lines typed before it are taken), at Ctrl-C, and when ctx is
// done or closeInput is called.
//
// The terminal goes back to its mode on every path before edit returns,
// and without waiting for a read of the terminal: the reader waits in
// poll(2) with a pipe of its own beside the terminal, and stopping it
// writes to that pipe (see readTerminal). Where that is not possible the
// reader stays blocked until the process exits, the terminal restored all
// the same.
func (u *ui) edit(ctx context.Context, in, out *os.File, lines chan<- string) error {
	h := &hold{stop: make(chan struct{}), done: make(chan struct{})}
	u.mu.Lock()
	closed := u.inputClosed
	if !closed {
		u.hold = h
	}
	u.mu.Unlock()
	if closed {
		return nil
	}
	defer func() {
		u.mu.Lock()
		u.hold = nil
		u.mu.Unlock()
		close(h.done)
	}()

	fd := int(in.Fd())
	saved, err := term.MakeRaw(fd)
	if err != nil {
		return scanLines(ctx, in, lines)
	}
	keys, err := readTerminal(in)
	if err != nil {
		term.Restore(fd, saved)
		return scanLines(ctx, in, lines)
	}
	ofd := int(out.Fd())
	s := newScreen(out, func() (int, int) { return termSize(ofd) })
	u.attach(s)
	restore := sync.OnceFunc(func() {
		u.detach()
		term.Restore(fd, saved)
		keys.stop()
	})
	defer restore() // a panic too leaves the terminal as it was

	end, pending, err := u.editLoop(ctx, s, h, keys, lines)
	restore()
	switch end {
	case endInterrupt:
		interrupt(ctx)
	case endEOF:
		for _, l := range pending {
			select {
			case lines <- l:
			case <-ctx.Done():
				return nil
			}
		}
	}
	return err
}

// editLoop feeds the keys read to the editor and hands the lines typed to
// lines, without ever blocking the keys on a slow taker (chat waits for
// the hub's answer to /who, say). It also redraws for progress, at most
// every redrawEvery. It returns how input ended, the lines typed but not
// yet taken, and the terminal's read error if it failed.
func (u *ui) editLoop(ctx context.Context, s *screen, h *hold, keys *termReader, lines chan<- string) (inputEnd, []string, error) {
	var pending []string
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var due <-chan time.Time // the timer's channel while a redraw waits for it
	for {
		var take chan<- string
		var next string
		if len(pending) > 0 {
			take, next = lines, pending[0]
		}
		select {
		case <-ctx.Done():
			return endStopped, nil, nil
		case <-h.stop:
			return endStopped, nil, nil
		case take <- next:
			pending = pending[1:]
		case b, ok := <-keys.chunks:
			if !ok {
				return endEOF, pending, keys.err
			}
			if end, over := u.typed(s, b, &pending); over {
				return end, pending, nil
			}
		case <-s.dirty:
			if due == nil {
				if wait := u.redrawIfDue(s); wait > 0 {
					timer.Reset(wait)
					due = timer.C
				}
			}
		case <-due:
			due = nil
			u.redrawIfDue(s)
		}
	}
}

// typed applies the keys in b to the line and redraws what changed. A
// line handed over stays on the screen above the region, after the
// prompt, as cooked mode would leave it: the hub does not echo a chat
// line to its sender.
func (u *ui) typed(s *screen, b []byte, pending *[]string) (end inputEnd, over bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	prompt, all := false, false
	var sent []string
	for _, k := range s.dec.decode(b) {
		act, line := s.ed.apply(k)
		switch act {
		case editChanged:
			prompt = true
		case editRedraw:
			all = true
		case editLine:
			*pending = append(*pending, line)
			if strings.TrimSpace(line) != "" {
				sent = append(sent, promptText+line)
			}
			prompt = true
		case editEOF:
			return endEOF, true
		case editInterrupt:
			return endInterrupt, true
		}
	}
	switch {
	case all || len(sent) > 0:
		u.drawLocked(sent)
	case prompt:
		s.drawPrompt()
	}
	return 0, false
}

// redrawIfDue redraws the region if it was last drawn at least
// redrawEvery ago, or says how long until it may be.
func (u *ui) redrawIfDue(s *screen) time.Duration {
	u.mu.Lock()
	defer u.mu.Unlock()
	if wait := redrawEvery - time.Since(s.last); wait > 0 {
		return wait
	}
	if u.scr == s {
		u.drawLocked(nil)
	}
	return 0
}

// attach gives the terminal to s: the legacy bar, if one is drawn, gives
// its uploads to the screen's status lines.
func (u *ui) attach(s *screen) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.bar != nil {
		u.bar.Clear()
		u.bar = nil
	}
	u.scr = s
	u.drawLocked(nil)
}

// detach erases the region and gives the terminal back to cooked output.
// Uploads still running (chat waits for them after Ctrl-D) go on with the
// legacy bar on stderr.
func (u *ui) detach() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.scr.clear()
	u.scr = nil
	if u.progress && u.active > 0 {
		total, done := u.uploadTotalsLocked()
		u.newBarLocked(total)
		u.bar.Set64(done)
	}
}

// raiseInterrupt sends SIGINT to this process (a variable for tests).
var raiseInterrupt = func() error {
	p, err := os.FindProcess(os.Getpid())
	if err != nil {
		return err
	}
	return p.Signal(os.Interrupt)
}

// interrupt makes Ctrl-C, which raw mode turns into a key, do what it does
// in cooked mode: SIGINT, which main turns into the end of ctx (running
// uploads cancelled, exit 130). It waits for ctx to end, a second at most,
// so that chat sees the interrupt rather than an end of input. Where a
// process cannot signal itself, Ctrl-C only ends input.
func interrupt(ctx context.Context) {
	if raiseInterrupt() != nil {
		return
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// termSize is the terminal's size, or 80×24 if it cannot say.
func termSize(fd int) (cols, rows int) {
	cols, rows, err := term.GetSize(fd)
	if err != nil || cols <= 0 || rows <= 0 {
		return 80, 24
	}
	return max(cols, 8), rows
}

// screenLines splits what the ui prints into the lines the screen puts
// above its region.
func screenLines(s string) []string { return strings.Split(s, "\n") }
