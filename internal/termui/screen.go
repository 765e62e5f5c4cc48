// Package termui is an interactive terminal for a program that prints
// lines: a Screen keeps a region at the bottom of the terminal (rows of
// status the program chooses, and the line being typed) below the lines
// printed, which scroll up as usual; Input runs the line editor on a
// terminal in raw mode and hands over the lines typed. Every row is
// fitted to the terminal's width, read again before each redraw, so a
// window made narrower leaves nothing stale behind.
//
//	<bob> lines printed scroll up here, as usual
//	upload  big.iso  37%  1.6 GB of 4.3 GB  10.5 MB/s            the region: rows
//	← alice  notes/today.md  80%  1.2 kB of 1.5 kB  3.1 kB/s  file 2/3   of the program's,
//	1 up, 1 down  42% |██████████              | (1.9/4.5 GB, 12 MB/s) [2m31s:3m28s]
//	> the line being typed, cursor where it is
//
// A redraw goes back to the region's first row, clears to the end of the
// screen (ESC [ J), prints the new lines and draws the region again. No
// row of the region is as wide as the terminal, so none wraps, and the
// cursor always sits on the last row. Going back up counts the rows the
// region takes at the terminal's width now: a terminal made narrower
// since folds each wide row over several (as tmux, VTE and most others
// do), and those rows are erased too, so that no stale status line stays
// above the region.
//
// A strip (NewStrip) is the region without the prompt, for status on
// stderr while lines go to stdout: the cursor rests at the start of its
// last row. Width, Fit and Shorten measure and cut text by the columns
// a terminal gives it; Escape makes any text safe to show, EscapeJSON
// any encoded JSON. Where the lines go to a file or a pipe instead of a
// terminal, a LineWriter gathers those printed at once into one write.
package termui

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// RedrawEvery spaces out the redraws that Changed asks for: status that
// changes on every write of a transfer changes far more often than
// anyone can read. Lines printed and keys typed draw at once.
const RedrawEvery = 100 * time.Millisecond

// Screen is the region at the bottom of a terminal, and in it the line
// being typed (unless it is a strip). While a Screen is in use it alone
// writes to its terminal and moves the cursor. It is not safe for
// concurrent use: its owner calls its methods, and the region function,
// under a lock of its own (Input.Run takes that lock from its Host).
type Screen struct {
	w      io.Writer
	size   func() (cols, rows int)
	region func(cols, rows int) []string
	prompt bool // the last row is the line being typed (false: a strip)
	ed     editor
	dec    keyDecoder
	// The rows of the region as last drawn, by their widths, and the
	// cursor's column on the last of them.
	widths []int
	cursor int
	last   time.Time     // when the region was last drawn
	dirty  chan struct{} // the region changed since (capacity 1)
}

// NewScreen returns a screen with a prompt that draws on w, a terminal
// whose size says how wide and high it is now. region gives the rows
// shown above the prompt, each for a terminal cols columns wide (one
// fewer than the terminal's, so that no row wraps) and rows high; nil
// shows none.
func NewScreen(w io.Writer, size func() (cols, rows int), region func(cols, rows int) []string) *Screen {
	return &Screen{w: w, size: size, region: region, prompt: true, dirty: make(chan struct{}, 1)}
}

// NewStrip returns a screen without a prompt: the region alone, for
// status on stderr while lines go to stdout. The lines around it are
// the owner's to write, between Clear and Redraw.
func NewStrip(w io.Writer, size func() (cols, rows int), region func(cols, rows int) []string) *Screen {
	return &Screen{w: w, size: size, region: region, dirty: make(chan struct{}, 1)}
}

// Print prints lines above the region and draws the region below them.
// Each line must be safe to show (Escape) and is printed whole: a line
// wider than the terminal wraps as the terminal wraps it.
func (s *Screen) Print(lines ...string) {
	cols, rows := s.size()
	var region []string
	if s.region != nil {
		region = s.region(cols-1, rows)
	}
	s.draw(lines, region)
}

// Redraw draws the region again, as it is now.
func (s *Screen) Redraw() { s.Print() }

// Changed tells the screen that its region changed. A strip redraws at
// once if now, or if it was last drawn RedrawEvery ago; a screen with a
// prompt leaves the redraw to Input.Run, which draws at most every
// RedrawEvery.
func (s *Screen) Changed(now bool) {
	if s.prompt {
		select {
		case s.dirty <- struct{}{}:
		default:
		}
		return
	}
	if now || time.Since(s.last) >= RedrawEvery {
		s.Redraw()
	}
}

// Clear erases the region for good: the cursor is left at the start of
// its first row, now empty, where other output goes on.
func (s *Screen) Clear() {
	var b bytes.Buffer
	s.erase(&b)
	if b.Len() > 0 {
		s.w.Write(b.Bytes())
	}
}

// Type applies the keys in b, the bytes a terminal in raw mode sends, to
// the line being typed, and redraws what changed. A line entered stays
// on the screen above the region, after the prompt, as cooked mode would
// leave it. It returns the lines entered and, if a key ended input, how
// (EOF for Ctrl-D on an empty line, Interrupt for Ctrl-C); the keys after
// that one are dropped.
func (s *Screen) Type(b []byte) (lines []string, end End) {
	prompt, all := false, false
	var shown []string
	for _, k := range s.dec.decode(b) {
		act, line := s.ed.apply(k)
		switch act {
		case editChanged:
			prompt = true
		case editRedraw:
			all = true
		case editLine:
			lines = append(lines, line)
			if strings.TrimSpace(line) != "" {
				shown = append(shown, Escape(promptText+line))
			}
			prompt = true
		case editEOF:
			return lines, EOF
		case editInterrupt:
			return lines, Interrupt
		}
	}
	switch {
	case all || len(shown) > 0:
		s.Print(shown...) // the region is redrawn below them
	case prompt:
		s.drawPrompt()
	}
	return lines, 0
}

// erase writes to b what takes the cursor to the start of the region's
// first row and clears from there to the end of the screen.
func (s *Screen) erase(b *bytes.Buffer) {
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
func (s *Screen) draw(above, region []string) {
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
		s.widths = append(s.widths, Width(l))
	}
	s.cursor = 0
	if s.prompt {
		row, cursor := s.ed.view(cols)
		if len(region) > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString(row)
		s.widths = append(s.widths, Width(row))
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
func (s *Screen) drawPrompt() {
	cols, _ := s.size()
	row, cursor := s.ed.view(cols)
	var b bytes.Buffer
	b.WriteByte('\r')
	b.WriteString(row)
	b.WriteString("\x1b[K")
	s.column(&b, cursor)
	s.w.Write(b.Bytes())
	if n := len(s.widths); n > 0 {
		s.widths[n-1], s.cursor = Width(row), cursor
	}
}

func (s *Screen) column(b *bytes.Buffer, col int) {
	b.WriteByte('\r')
	if col > 0 {
		fmt.Fprintf(b, "\x1b[%dC", col)
	}
}

// Size is the size of the terminal f, or 80×24 if it cannot say, and
// never narrower than 8 columns. A Screen on a terminal reads it before
// every redraw, which is how it follows a window resized.
func Size(f *os.File) (cols, rows int) {
	cols, rows, err := term.GetSize(int(f.Fd()))
	if err != nil || cols <= 0 || rows <= 0 {
		return 80, 24
	}
	return max(cols, 8), rows
}
