package main

// The interactive terminal of muxfer chat: when stdin and stdout are both
// a terminal (and output is not JSON), readLines runs termui's line
// editor on it, and the ui prints every line above the region that
// termui keeps at the bottom of the screen: the progress of every
// transfer (meter.go) and the line being typed.

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/muxfer/muxfer/internal/termui"
	"github.com/muxfer/muxfer/protocol"
)

// closeInput ends the terminal line editor, if readLines runs one, and
// returns once the terminal is back in the mode it was in (see
// termui.Input.Close). It does nothing when stdin is not a terminal, and
// a readLines that starts after it reads lines without the editor.
func (u *ui) closeInput() { u.input.Close() }

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

// edit runs the line editor on the terminal in, drawing on out, and sends
// each line typed to lines; a line is a chat line, protocol.MaxChatLen
// bytes at most. It returns nil at Ctrl-D on an empty line (after the
// lines typed before it are taken), at Ctrl-C, and when ctx is done or
// closeInput is called, the terminal restored each time. Where the
// terminal cannot be made raw it reads lines as from a pipe.
func (u *ui) edit(ctx context.Context, in, out *os.File, lines chan<- string) error {
	u.input.MaxLine = protocol.MaxChatLen
	end, err := u.input.Run(ctx, in, out, screenHost{u}, lines)
	if errors.Is(err, termui.ErrNoRawMode) {
		return scanLines(ctx, in, lines)
	}
	if end == termui.Interrupt {
		interrupt(ctx)
	}
	return err
}

// screenHost is the ui as the line editor's host: the progress is the
// screen's region, and the screen takes over from the strip on stderr
// while it has the terminal. termui calls its methods with ui.mu held.
type screenHost struct{ *ui }

func (h screenHost) Lock()   { h.mu.Lock() }
func (h screenHost) Unlock() { h.mu.Unlock() }

func (h screenHost) Region(cols, rows int) []string { return h.regionLocked(cols, rows) }

// Attach gives the terminal to s: the strip on stderr, if one is drawn,
// gives its transfers to the screen.
func (h screenHost) Attach(s *termui.Screen) {
	if h.strip != nil {
		h.strip.Clear()
	}
	h.scr = s
}

// Detach erases the region and gives the terminal back to cooked output.
// Transfers still running (chat waits for uploads after Ctrl-D) go on in
// the strip on stderr.
func (h screenHost) Detach(s *termui.Screen) {
	s.Clear()
	h.scr = nil
	h.changedLocked(true)
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
