package termui_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/internal/termui"
	"github.com/muxfer/muxfer/internal/termui/termtest"
)

// fixedSize is a terminal's size that never changes.
func fixedSize(cols, rows int) func() (int, int) { return func() (int, int) { return cols, rows } }

func TestScreenKeepsRegionAndPromptBelowLinesPrinted(t *testing.T) {
	v := termtest.NewVT(t, 30, 6)
	var asked [2]int
	s := termui.NewScreen(v, fixedSize(30, 6), func(cols, rows int) []string {
		asked = [2]int{cols, rows}
		return []string{"status"}
	})
	s.Redraw()
	if lines, end := s.Type([]byte("hi")); len(lines) != 0 || end != termui.None {
		t.Fatalf("typing hi: lines %q, end %d", lines, end)
	}
	s.Print("one", "two")
	rows, x, y := v.Screen()
	if want := []string{"one", "two", "status", "> hi"}; !slices.Equal(rows, want) || x != 4 || y != 3 {
		t.Errorf("screen %q, cursor %d,%d; want %q, cursor after hi", rows, x, y, want)
	}
	if asked != [2]int{29, 6} {
		t.Errorf("region asked for %v, want 29 columns (one fewer than the terminal's) and 6 rows", asked)
	}
}

// TestScreenTypeHandsOverLinesAndEnds: lines entered are returned and
// stay above the region (blank ones are not shown); Ctrl-D on an empty
// line and Ctrl-C end input, with the lines entered before them.
func TestScreenTypeHandsOverLinesAndEnds(t *testing.T) {
	tests := []struct {
		name  string
		input string
		lines []string
		end   termui.End
	}{
		{"lines", "one\r\rtwo\r", []string{"one", "", "two"}, termui.None},
		{"Ctrl-D after lines", "one\rtwo\r\x04more", []string{"one", "two"}, termui.EOF},
		{"Ctrl-C", "one\rtw\x03", []string{"one"}, termui.Interrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := termtest.NewVT(t, 40, 8)
			s := termui.NewScreen(v, fixedSize(40, 8), nil)
			s.Redraw()
			lines, end := s.Type([]byte(tt.input))
			if !slices.Equal(lines, tt.lines) || end != tt.end {
				t.Errorf("Type(%q) = %q, %d; want %q, %d", tt.input, lines, end, tt.lines, tt.end)
			}
			if end != termui.None {
				return // the line editor gives the terminal back: nothing more to draw
			}
			if rows, _, _ := v.Screen(); !slices.Equal(rows, []string{"> one", "> two", ">"}) {
				t.Errorf("screen\n%s\nwant each line entered after the prompt, blank ones not", strings.Join(rows, "\n"))
			}
		})
	}
}

// TestStripDrawsOnChangeAtMostEveryRedrawEvery: a strip redraws at once
// when asked to (a transfer came or went), and otherwise not again
// within RedrawEvery of its last draw.
func TestStripDrawsOnChangeAtMostEveryRedrawEvery(t *testing.T) {
	v := termtest.NewVT(t, 40, 8)
	n := 0
	s := termui.NewStrip(v, fixedSize(40, 8), func(cols, rows int) []string {
		n++
		return []string{strings.Repeat("#", n)}
	})
	s.Changed(true)
	start := time.Now()
	s.Changed(false)
	if n != 1 && time.Since(start) < termui.RedrawEvery {
		t.Errorf("%d draws after a change within RedrawEvery of the first, want 1", n)
	}
	s.Changed(true)
	rows, x, y := v.Screen()
	if len(rows) != 1 || !strings.HasPrefix(rows[0], "#") || x != 0 || y != 0 {
		t.Errorf("strip %q, cursor %d,%d; want one row, the cursor at its start", rows, x, y)
	}
	s.Clear()
	if rows, _, _ := v.Screen(); len(rows) != 0 {
		t.Errorf("after Clear the strip shows %q", rows)
	}
}
