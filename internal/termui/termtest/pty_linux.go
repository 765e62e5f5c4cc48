package termtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal for a test: TTY is the terminal side, which
// the code under test reads and draws on; the test types on the other
// side and reads what was drawn.
type PTY struct {
	TTY    *os.File
	master *os.File
	mu     sync.Mutex
	drawn  bytes.Buffer
	more   chan struct{} // closed and replaced when more is drawn
}

// OpenPTY opens a pseudo-terminal of cols×rows, closed when the test
// ends; it skips the test where there is none.
func OpenPTY(t *testing.T, cols, rows int) *PTY {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test the line editor on: %v", err)
	}
	mfd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(cols), Row: uint16(rows)}); err != nil {
		t.Fatal(err)
	}
	p := &PTY{TTY: tty, master: master, more: make(chan struct{})}
	read := make(chan struct{})
	go func() { // ends when the terminal side is closed: EIO
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.drawn.Write(buf[:n])
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		tty.Close()
		<-read
		master.Close()
	})
	return p
}

// TypeKeys types s on the terminal, as a keyboard would.
func (p *PTY) TypeKeys(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(p.master, s); err != nil {
		t.Fatal(err)
	}
}

// WaitDrawn waits until what was drawn contains want, 10 s at most.
func (p *PTY) WaitDrawn(t *testing.T, want string) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		got, more := p.drawn.String(), p.more
		p.mu.Unlock()
		if strings.Contains(got, want) {
			return
		}
		select {
		case <-more:
		case <-deadline.C:
			t.Fatalf("the terminal never showed %q; it got %q", want, got)
		}
	}
}

// Drawn is everything drawn on the terminal so far.
func (p *PTY) Drawn() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.drawn.String()
}

// Cooked reports whether the terminal is in cooked mode: lines edited
// and echoed by the terminal itself.
func (p *PTY) Cooked(t *testing.T) bool {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(p.TTY.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&unix.ICANON != 0 && tio.Lflag&unix.ECHO != 0
}

// Editing is a line editor running on a PTY (StartEditing): the lines it
// hands over arrive on Lines, closed when it returns.
type Editing struct {
	Lines  chan string
	Cancel context.CancelFunc // ends the ctx the editor runs with
	done   chan error
}

// StartEditing runs run, a line editor on p, on a goroutine of its own
// with a ctx and a channel for the lines typed, and waits until it has
// drawn its prompt ("> ") with the terminal raw. When the test ends, ctx
// is cancelled and the lines left are drained.
func (p *PTY) StartEditing(t *testing.T, run func(ctx context.Context, lines chan<- string) error) *Editing {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := &Editing{Lines: make(chan string), Cancel: cancel, done: make(chan error, 1)}
	go func() {
		e.done <- run(ctx, e.Lines)
		close(e.Lines)
	}()
	t.Cleanup(func() {
		cancel()
		for range e.Lines {
		}
	})
	p.WaitDrawn(t, "> ")
	if p.Cooked(t) {
		t.Fatal("the line editor left the terminal in cooked mode")
	}
	return e
}

// Line waits for the next line handed over, 10 s at most; false once
// the editor has returned.
func (e *Editing) Line(t *testing.T) (string, bool) {
	t.Helper()
	select {
	case l, ok := <-e.Lines:
		return l, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no line within 10 s")
		return "", false
	}
}

// Result waits for the editor to return, 10 s at most, and returns its
// error.
func (e *Editing) Result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-e.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the line editor did not return within 10 s")
		return nil
	}
}
