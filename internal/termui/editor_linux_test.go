package termui_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/muxfer/muxfer/internal/termui"
	"github.com/muxfer/muxfer/internal/termui/termtest"
)

// host is the least a program around the line editor does: no region,
// and it records whether it has the screen.
type host struct {
	sync.Mutex
	attached bool
}

func (h *host) Region(cols, rows int) []string { return nil }
func (h *host) Attach(s *termui.Screen)        { h.attached = true }
func (h *host) Detach(s *termui.Screen)        { h.attached = false }

// running is Input.Run on a pty.
type running struct {
	*termtest.Editing
	in  *termui.Input
	h   *host
	end termui.End // how Run ended, once Result returned
}

func startRun(t *testing.T, p *termtest.PTY) *running {
	t.Helper()
	r := &running{in: &termui.Input{}, h: &host{}}
	r.Editing = p.StartEditing(t, func(ctx context.Context, lines chan<- string) error {
		end, err := r.in.Run(ctx, p.TTY, p.TTY, r.h, lines)
		r.end = end
		return err
	})
	return r
}

// TestRunRestoresTheTerminalOnEveryPath runs the line editor on a
// pseudo-terminal: lines typed arrive; however input ends, Run returns
// how, with the terminal back in cooked mode, the screen detached and
// its reader goroutine gone (goleak checks, in TestMain) even though no
// key came to end its wait.
func TestRunRestoresTheTerminalOnEveryPath(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, p *termtest.PTY, r *running)
		want termui.End
	}{
		{"Ctrl-D on an empty line", func(t *testing.T, p *termtest.PTY, r *running) { p.TypeKeys(t, "\x04") }, termui.EOF},
		{"Ctrl-C", func(t *testing.T, p *termtest.PTY, r *running) { p.TypeKeys(t, "\x03") }, termui.Interrupt},
		{"ctx done while waiting for a key", func(t *testing.T, p *termtest.PTY, r *running) { r.Cancel() }, termui.Stopped},
		{"Close", func(t *testing.T, p *termtest.PTY, r *running) {
			r.in.Close()
			if !p.Cooked(t) {
				t.Error("Close returned before the terminal was restored")
			}
		}, termui.Stopped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := termtest.OpenPTY(t, 60, 10)
			r := startRun(t, p)
			p.TypeKeys(t, "héllx\x7fo\r")
			if l, _ := r.Line(t); l != "héllo" {
				t.Errorf("line %q, want %q", l, "héllo")
			}
			tt.end(t, p, r)
			if err := r.Result(t); r.end != tt.want || err != nil {
				t.Errorf("Run = %d, %v; want %d, nil", r.end, err, tt.want)
			}
			if !p.Cooked(t) {
				t.Error("the terminal is still in raw mode")
			}
			r.h.Lock()
			defer r.h.Unlock()
			if r.h.attached {
				t.Error("the screen is still attached")
			}
		})
	}
}

// TestRunAfterCloseRunsNoEditor: a Run that starts after Close returns
// at once, and leaves the terminal as it was.
func TestRunAfterCloseRunsNoEditor(t *testing.T) {
	p := termtest.OpenPTY(t, 60, 10)
	var in termui.Input
	in.Close()
	end, err := in.Run(context.Background(), p.TTY, p.TTY, &host{}, make(chan string))
	if end != termui.Stopped || err != nil || !p.Cooked(t) || p.Drawn() != "" {
		t.Errorf("Run after Close = %d, %v, drew %q; want Stopped, nothing drawn, the terminal cooked", end, err, p.Drawn())
	}
}

// TestRunHandsOverLinesTypedBeforeCtrlD: lines typed ahead while nobody
// takes them (a chat busy with a hub's answer) are all handed over, in
// order, before input ends.
func TestRunHandsOverLinesTypedBeforeCtrlD(t *testing.T) {
	p := termtest.OpenPTY(t, 60, 10)
	r := startRun(t, p)
	p.TypeKeys(t, "one\rtwo\rthree\r\x04")
	p.WaitDrawn(t, "\x1b[J") // restored: the region erased
	var got []string
	for {
		l, ok := r.Line(t)
		if !ok {
			break
		}
		got = append(got, l)
	}
	if !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Errorf("lines %q, want one, two, three", got)
	}
	if err := r.Result(t); r.end != termui.EOF || err != nil {
		t.Errorf("Run = %d, %v; want EOF, nil", r.end, err)
	}
}
