package main

// The interactive terminal of muxfer chat: when stdin and stdout are both
// a terminal (and output is not JSON), readLines puts the terminal in raw
// mode and runs the line editor of term.go (terminal.go), and the ui
// prints every line above a region at the bottom of the screen:
//
//	<bob> lines printed scroll up here, as usual
//	upload  big.iso  37%  1.6 GB of 4.3 GB  10.5 MB/s            a line per transfer,
//	← alice  notes/today.md  80%  1.2 kB of 1.5 kB  3.1 kB/s  file 2/3   with progress on
//	1 up, 1 down  42% |██████████              | (1.9/4.5 GB, 12 MB/s) [2m31s:3m28s]
//	> the line being typed, cursor where it is
//
// A redraw goes back to the region's first row, clears to the end of the
// screen (ESC [ J), prints the new lines and draws the region again. No
// row of the region is as wide as the terminal, so none wraps, and the
// cursor always sits on the last row. Going back up counts the rows the
// region takes at the terminal's width now, which is read before every
// redraw: a terminal made narrower since folds each wide row over
// several (as tmux, VTE and most others do), and those rows are erased
// too, so that no stale status line stays above the region.
//
// Outside the chat, progress on stderr is the same region without the
// prompt (newStrip), the cursor at the start of its last row.

import (
	"bytes"
	"fmt"
	"io"
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
	w      io.Writer
	size   func() (cols, rows int)
	prompt bool // the last row is the line being typed (false: a strip of progress)
	ed     editor
	dec    keyDecoder
	// The rows of the region as last drawn, by their widths, and the
	// cursor's column on the last of them.
	widths []int
	cursor int
	last   time.Time     // when the region was last drawn
	dirty  chan struct{} // progress changed since (capacity 1)
}

func newScreen(w io.Writer, size func() (cols, rows int)) *screen {
	return &screen{w: w, size: size, prompt: true, dirty: make(chan struct{}, 1)}
}

// newStrip is a screen without a prompt: the region alone, for progress
// on stderr while lines go to stdout.
func newStrip(w io.Writer, size func() (cols, rows int)) *screen {
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
	if len(s.widths) == 0 {
		if s.prompt {
			b.WriteString("\r\x1b[J")
		}
		return
	}
	cols, _ := s.size()
	up := s.cursor / cols // the last row folded before the cursor
	for _, w := range s.widths[:len(s.widths)-1] {
		up += max((w+cols-1)/cols, 1)
	}
	b.WriteByte('\r')
	if up > 0 {
		fmt.Fprintf(b, "\x1b[%dA", up)
	}
	b.WriteString("\x1b[J")
	s.widths = s.widths[:0]
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
	for i, l := range region {
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString(l)
		s.widths = append(s.widths, runesWidth([]rune(l)))
	}
	s.cursor = 0
	if s.prompt {
		row, cursor := s.ed.view(cols)
		if len(region) > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString(row)
		s.widths = append(s.widths, runesWidth([]rune(row)))
		s.cursor = cursor
	}
	if s.prompt || len(region) > 0 {
		s.column(&b, s.cursor)
	}
	if b.Len() > 0 {
		s.w.Write(b.Bytes())
	}
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
	if n := len(s.widths); n > 0 {
		s.widths[n-1], s.cursor = runesWidth([]rune(row)), cursor
	}
}

func (s *screen) column(b *bytes.Buffer, col int) {
	b.WriteByte('\r')
	if col > 0 {
		fmt.Fprintf(b, "\x1b[%dC", col)
	}
}

// clear erases the region for good: the cursor is left at the start of
// its first row, now empty, where other output goes on.
func (s *screen) clear() {
	var b bytes.Buffer
	s.erase(&b)
	if b.Len() > 0 {
		s.w.Write(b.Bytes())
	}
}

// drawLocked redraws the region, with lines printed above it first; those
// come from printLocked, made safe.
func (u *ui) drawLocked(above []string) {
	cols, rows := u.scr.size()
	u.scr.draw(above, u.regionLocked(cols-1, rows))
}

// attach gives the terminal to s: the strip on stderr, if one is drawn,
// gives its transfers to the screen.
func (u *ui) attach(s *screen) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.strip != nil {
		u.strip.clear()
	}
	u.scr = s
	u.drawLocked(nil)
}

// detach erases the region and gives the terminal back to cooked output.
// Transfers still running (chat waits for uploads after Ctrl-D) go on in
// the strip on stderr.
func (u *ui) detach() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.scr.clear()
	u.scr = nil
	u.changedLocked(true)
}

// termSize is the terminal's size, or 80×24 if it cannot say.
func termSize(fd int) (cols, rows int) {
	cols, rows, err := term.GetSize(fd)
	if err != nil || cols <= 0 || rows <= 0 {
		return 80, 24
	}
	return max(cols, 8), rows
}
