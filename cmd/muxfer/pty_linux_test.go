package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/muxfer/muxfer/internal/termui"
	"golang.org/x/sys/unix"
)

// pty is a pseudo-terminal for a test: tty is the terminal side, which
// readLines gets as stdin and stdout; the test types on the other side
// and reads what was drawn.
type pty struct {
	tty    *os.File
	master *os.File
	mu     sync.Mutex
	drawn  bytes.Buffer
	more   chan struct{} // closed and replaced when more is drawn
}

// openPTY opens a pseudo-terminal of cols×rows, closed when the test ends.
func openPTY(t *testing.T, cols, rows int) *pty {
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
	p := &pty{tty: tty, master: master, more: make(chan struct{})}
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

func (p *pty) typeKeys(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(p.master, s); err != nil {
		t.Fatal(err)
	}
}

// waitDrawn waits until what was drawn contains want.
func (p *pty) waitDrawn(t *testing.T, want string) {
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

func (p *pty) cooked(t *testing.T) bool {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(p.tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&unix.ICANON != 0 && tio.Lflag&unix.ECHO != 0
}

// editing is readLines running on a pty.
type editing struct {
	lines  chan string
	done   chan error
	cancel context.CancelFunc
}

func startEditing(t *testing.T, u *ui, p *pty) *editing {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := &editing{lines: make(chan string), done: make(chan error, 1), cancel: cancel}
	go func() {
		e.done <- u.readLines(ctx, p.tty, e.lines)
		close(e.lines)
	}()
	t.Cleanup(func() {
		cancel()
		for range e.lines {
		}
	})
	p.waitDrawn(t, "> ")
	if p.cooked(t) {
		t.Fatal("readLines left the terminal in cooked mode")
	}
	return e
}

func (e *editing) line(t *testing.T) (string, bool) {
	t.Helper()
	select {
	case l, ok := <-e.lines:
		return l, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no line within 10 s")
		return "", false
	}
}

func (e *editing) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-e.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("readLines did not return within 10 s")
		return nil
	}
}

// TestReadLinesOnATerminalRestoresItOnEveryPath runs the line editor on a
// pseudo-terminal: lines typed arrive; however input ends, readLines
// returns with the terminal back in cooked mode, its reader goroutine
// gone (goleak checks, in TestMain) even though no key came to end its
// wait.
func TestReadLinesOnATerminalRestoresItOnEveryPath(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, u *ui, p *pty, e *editing)
	}{
		{"Ctrl-D on an empty line", func(t *testing.T, u *ui, p *pty, e *editing) { p.typeKeys(t, "\x04") }},
		{"ctx done while waiting for a key", func(t *testing.T, u *ui, p *pty, e *editing) { e.cancel() }},
		{"closeInput", func(t *testing.T, u *ui, p *pty, e *editing) {
			u.closeInput()
			if !p.cooked(t) {
				t.Error("closeInput returned before the terminal was restored")
			}
		}},
		{"Ctrl-C", func(t *testing.T, u *ui, p *pty, e *editing) {
			p.typeKeys(t, "\x03")
			select {
			case <-interrupted:
			case <-time.After(10 * time.Second):
				t.Fatal("Ctrl-C raised no interrupt within 10 s")
			}
		}},
	}
	// No signal in a test: main's handler is not there to take it.
	old := raiseInterrupt
	raiseInterrupt = func() error {
		interrupted <- struct{}{}
		return errors.New("test: no signal sent")
	}
	t.Cleanup(func() { raiseInterrupt = old })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := openPTY(t, 60, 10)
			u := &ui{out: p.tty, errw: io.Discard}
			e := startEditing(t, u, p)
			p.typeKeys(t, "héllx\x7fo\r")
			if l, _ := e.line(t); l != "héllo" {
				t.Errorf("line %q, want %q", l, "héllo")
			}
			tt.end(t, u, p, e)
			if err := e.result(t); err != nil {
				t.Errorf("readLines: %v", err)
			}
			if !p.cooked(t) {
				t.Error("the terminal is still in raw mode")
			}
		})
	}
}

// interrupted hears the interrupts the line editor raises in tests.
var interrupted = make(chan struct{}, 1)

// TestReadLinesHandsOverLinesTypedBeforeCtrlD: lines typed ahead while
// nobody takes them (chat is busy with /who) are all handed over, in
// order, before input ends.
func TestReadLinesHandsOverLinesTypedBeforeCtrlD(t *testing.T) {
	p := openPTY(t, 60, 10)
	u := &ui{out: p.tty, errw: io.Discard}
	e := startEditing(t, u, p)
	p.typeKeys(t, "one\rtwo\rthree\r\x04")
	p.waitDrawn(t, "\x1b[J") // restored: the region erased
	var got []string
	for {
		l, ok := e.line(t)
		if !ok {
			break
		}
		got = append(got, l)
	}
	if strings.Join(got, "|") != "one|two|three" {
		t.Errorf("lines %q, want one, two, three", got)
	}
	if err := <-e.done; err != nil {
		t.Errorf("readLines: %v", err)
	}
}

// TestReadLinesRedrawsProgressAtMostTenTimesASecond: a transfer that
// reports thousands of writes a second is drawn at most every
// termui.RedrawEvery.
func TestReadLinesRedrawsProgressAtMostTenTimesASecond(t *testing.T) {
	p := openPTY(t, 80, 10)
	u := &ui{out: p.tty, errw: io.Discard, progress: true}
	e := startEditing(t, u, p)
	d := u.download("← bob", 1, 1<<30)
	const span = 600 * time.Millisecond
	start := time.Now()
	p.mu.Lock()
	before := strings.Count(p.drawn.String(), "\x1b[J")
	p.mu.Unlock()
	writes := 0
	for time.Since(start) < span {
		d.wrote(1)
		writes++
	}
	elapsed := time.Since(start)
	d.done()
	p.waitDrawn(t, "← bob")
	e.cancel()
	if err := e.result(t); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	frames := strings.Count(p.drawn.String(), "\x1b[J") - before
	p.mu.Unlock()
	if most := int(elapsed/termui.RedrawEvery) + 3; frames > most || writes < 1000 {
		t.Errorf("%d writes in %s drew %d frames, want at most %d", writes, elapsed, frames, most)
	}
}
