package main

// The line editor's hold on the terminal: raw mode for as long as
// readLines runs it, the loop that feeds it keys and hands over lines,
// and the ways it ends (Ctrl-D, Ctrl-C, the chat ending, closeInput).

import (
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

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
	// Once the terminal is as it was, closeInput has nothing to wait for.
	release := sync.OnceFunc(func() {
		u.mu.Lock()
		u.hold = nil
		u.mu.Unlock()
		close(h.done)
	})
	defer release()

	fd := int(in.Fd())
	saved, err := term.MakeRaw(fd)
	if err != nil {
		release()
		return scanLines(ctx, in, lines)
	}
	keys, err := readTerminal(in)
	if err != nil {
		term.Restore(fd, saved)
		release()
		return scanLines(ctx, in, lines)
	}
	ofd := int(out.Fd())
	s := newScreen(out, func() (int, int) { return termSize(ofd) })
	u.attach(s)
	restore := sync.OnceFunc(func() {
		u.detach()
		term.Restore(fd, saved)
		keys.stop()
		release()
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
		u.printLocked(sent...) // the region is redrawn below them
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
