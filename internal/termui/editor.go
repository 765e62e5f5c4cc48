package termui

// The line editor's hold on the terminal: raw mode for as long as
// Input.Run runs it, the loop that feeds it keys and hands over lines,
// and the ways it ends (Ctrl-D, Ctrl-C, ctx done, Input.Close).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// End is how input from the line editor ended.
type End int

// The ways input ends: Input.Run returns Stopped, EOF or Interrupt, and
// Screen.Type None while input goes on.
const (
	None      End = iota // input goes on (Screen.Type)
	Stopped              // ctx done or Input.Close: the program is ending
	EOF                  // Ctrl-D on an empty line, or the terminal closed
	Interrupt            // Ctrl-C, which raw mode turns into a key
)

// ErrNoRawMode is what Input.Run's error wraps, with its cause, when the
// terminal cannot be put in raw mode or read as one: nothing was drawn,
// and the caller reads its lines some other way.
var ErrNoRawMode = errors.New("termui: terminal not in raw mode")

// Host is the program around the line editor. The editor holds its lock
// around every draw and every call of Region, Attach and Detach, so
// that the host, holding it too, may print on the screen (Screen.Print)
// from any goroutine.
type Host interface {
	sync.Locker
	// Region is the rows shown above the prompt (see NewScreen).
	Region(cols, rows int) []string
	// Attach gives the terminal to s, once it is in raw mode and before
	// s is first drawn; the host prints on s until Detach.
	Attach(s *Screen)
	// Detach takes the terminal back from s, before it leaves raw mode.
	Detach(s *Screen)
}

// Input is the line editor's hold on a terminal: Run runs the editor,
// Close ends it. The zero value is ready to use.
type Input struct {
	// MaxLine bounds the line typed, in bytes: keys past it are dropped.
	// 0: no bound. Set it before Run.
	MaxLine int

	mu     sync.Mutex
	closed bool  // Close was called: Run runs no editor after
	hold   *hold // Run's hold on the terminal, for Close
}

// hold is Run's hold on the terminal, for Close.
type hold struct {
	stop chan struct{} // closed by Close
	once sync.Once
	done chan struct{} // closed once the terminal is restored
}

// Close ends the line editor, if Run runs one, and returns once the
// terminal is back in the mode it was in, so that the process never
// exits with the terminal raw. (Run restores it too when its ctx is
// done, but nothing may wait for Run's caller: with a pipe for stdin it
// stays blocked in a read.) A Run that starts after Close returns at
// once.
func (in *Input) Close() {
	in.mu.Lock()
	in.closed = true
	h := in.hold
	in.mu.Unlock()
	if h != nil {
		h.once.Do(func() { close(h.stop) })
		<-h.done
	}
}

// Run runs the line editor on the terminal tty, drawing on out (a
// Screen that it gives to h), and sends each line typed to lines. It
// returns how input ended: EOF at Ctrl-D on an empty line (after the
// lines typed before it are taken), Interrupt at Ctrl-C, Stopped when
// ctx is done or Close is called. Its error wraps ErrNoRawMode, nothing
// drawn, if tty cannot be put in raw mode; it is the terminal's own if
// reading it fails.
//
// The terminal goes back to its mode on every path before Run returns,
// and without waiting for a read of the terminal: the reader waits in
// poll(2) with a pipe of its own beside the terminal, and stopping it
// writes to that pipe (see readTerminal). Where that is not possible the
// reader stays blocked until the process exits, the terminal restored all
// the same.
func (in *Input) Run(ctx context.Context, tty, out *os.File, h Host, lines chan<- string) (End, error) {
	hd := &hold{stop: make(chan struct{}), done: make(chan struct{})}
	in.mu.Lock()
	closed := in.closed
	if !closed {
		in.hold = hd
	}
	in.mu.Unlock()
	if closed {
		return Stopped, nil
	}
	// Once the terminal is as it was, Close has nothing to wait for.
	release := sync.OnceFunc(func() {
		in.mu.Lock()
		in.hold = nil
		in.mu.Unlock()
		close(hd.done)
	})
	defer release()

	fd := int(tty.Fd())
	saved, err := term.MakeRaw(fd)
	if err != nil {
		release()
		return Stopped, fmt.Errorf("%w: %w", ErrNoRawMode, err)
	}
	keys, err := readTerminal(tty)
	if err != nil {
		term.Restore(fd, saved)
		release()
		return Stopped, fmt.Errorf("%w: %w", ErrNoRawMode, err)
	}
	s := NewScreen(out, func() (int, int) { return Size(out) }, h.Region)
	s.ed.max = in.MaxLine
	h.Lock()
	h.Attach(s)
	s.Redraw()
	h.Unlock()
	restore := sync.OnceFunc(func() {
		h.Lock()
		h.Detach(s)
		h.Unlock()
		term.Restore(fd, saved)
		keys.stop()
		release()
	})
	defer restore() // a panic too leaves the terminal as it was

	end, pending, err := editLoop(ctx, s, h, hd, keys, lines)
	restore()
	if end == EOF {
		for _, l := range pending {
			select {
			case lines <- l:
			case <-ctx.Done():
				return Stopped, nil
			}
		}
	}
	return end, err
}

// editLoop feeds the keys read to the editor and hands the lines typed to
// lines, without ever blocking the keys on a slow taker (a chat waits for
// a hub's answer, say). It also redraws for Screen.Changed, at most every
// RedrawEvery. It returns how input ended, the lines typed but not yet
// taken, and the terminal's read error if it failed.
func editLoop(ctx context.Context, s *Screen, h Host, hd *hold, keys *termReader, lines chan<- string) (End, []string, error) {
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
			return Stopped, nil, nil
		case <-hd.stop:
			return Stopped, nil, nil
		case take <- next:
			pending = pending[1:]
		case b, ok := <-keys.chunks:
			if !ok {
				return EOF, pending, keys.err
			}
			h.Lock()
			typed, end := s.Type(b)
			h.Unlock()
			pending = append(pending, typed...)
			if end != None {
				return end, pending, nil
			}
		case <-s.dirty:
			if due == nil {
				if wait := redrawIfDue(s, h); wait > 0 {
					timer.Reset(wait)
					due = timer.C
				}
			}
		case <-due:
			due = nil
			redrawIfDue(s, h)
		}
	}
}

// redrawIfDue redraws the region if it was last drawn at least
// RedrawEvery ago, or says how long until it may be.
func redrawIfDue(s *Screen, h Host) time.Duration {
	h.Lock()
	defer h.Unlock()
	if wait := RedrawEvery - time.Since(s.last); wait > 0 {
		return wait
	}
	s.Redraw()
	return 0
}
