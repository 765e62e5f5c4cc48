package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/internal/termui"
	"github.com/muxfer/muxfer/internal/termui/termtest"
)

// startEditing runs u.readLines on p.
func startEditing(t *testing.T, u *ui, p *termtest.PTY) *termtest.Editing {
	t.Helper()
	return p.StartEditing(t, func(ctx context.Context, lines chan<- string) error { return u.readLines(ctx, p.TTY, lines) })
}

// TestReadLinesOnATerminalRestoresItOnEveryPath runs the line editor on a
// pseudo-terminal: lines typed arrive; however input ends, readLines
// returns with the terminal back in cooked mode, its reader goroutine
// gone (goleak checks, in TestMain) even though no key came to end its
// wait.
func TestReadLinesOnATerminalRestoresItOnEveryPath(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, u *ui, p *termtest.PTY, e *termtest.Editing)
	}{
		{"Ctrl-D on an empty line", func(t *testing.T, u *ui, p *termtest.PTY, e *termtest.Editing) { p.TypeKeys(t, "\x04") }},
		{"ctx done while waiting for a key", func(t *testing.T, u *ui, p *termtest.PTY, e *termtest.Editing) { e.Cancel() }},
		{"closeInput", func(t *testing.T, u *ui, p *termtest.PTY, e *termtest.Editing) {
			u.closeInput()
			if !p.Cooked(t) {
				t.Error("closeInput returned before the terminal was restored")
			}
		}},
		{"Ctrl-C", func(t *testing.T, u *ui, p *termtest.PTY, e *termtest.Editing) {
			p.TypeKeys(t, "\x03")
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
			p := termtest.OpenPTY(t, 60, 10)
			u := &ui{out: p.TTY, errw: io.Discard}
			e := startEditing(t, u, p)
			p.TypeKeys(t, "héllx\x7fo\r")
			if l, _ := e.Line(t); l != "héllo" {
				t.Errorf("line %q, want %q", l, "héllo")
			}
			tt.end(t, u, p, e)
			if err := e.Result(t); err != nil {
				t.Errorf("readLines: %v", err)
			}
			if !p.Cooked(t) {
				t.Error("the terminal is still in raw mode")
			}
		})
	}
}

// interrupted hears the interrupts the line editor raises in tests.
var interrupted = make(chan struct{}, 1)

// TestReadLinesRedrawsProgressAtMostTenTimesASecond: a transfer that
// reports thousands of writes a second is drawn at most every
// termui.RedrawEvery.
func TestReadLinesRedrawsProgressAtMostTenTimesASecond(t *testing.T) {
	p := termtest.OpenPTY(t, 80, 10)
	u := &ui{out: p.TTY, errw: io.Discard, progress: true}
	e := startEditing(t, u, p)
	d := u.download("← bob", 1, 1<<30)
	const span = 600 * time.Millisecond
	start := time.Now()
	before := strings.Count(p.Drawn(), "\x1b[J")
	writes := 0
	for time.Since(start) < span {
		d.wrote(1, 0)
		writes++
	}
	elapsed := time.Since(start)
	d.end()
	p.WaitDrawn(t, "← bob")
	e.Cancel()
	if err := e.Result(t); err != nil {
		t.Fatal(err)
	}
	frames := strings.Count(p.Drawn(), "\x1b[J") - before
	if most := int(elapsed/termui.RedrawEvery) + 3; frames > most || writes < 1000 {
		t.Errorf("%d writes in %s drew %d frames, want at most %d", writes, elapsed, frames, most)
	}
}
