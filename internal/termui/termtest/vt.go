// Package termtest helps test what package termui draws: VT replays a
// screen's bytes on a tiny terminal and shows what a user would see.
package termtest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/muxfer/muxfer/internal/termui"
)

// VT is a tiny terminal: enough of a VT100 in raw mode to replay what a
// termui.Screen writes and see what a user would. It fails the test on a
// control character or escape sequence it does not know, so that the
// screen's output stays within these few, and nothing that Escape should
// have escaped gets through. It is safe for concurrent use.
type VT struct {
	t          *testing.T
	mu         sync.Mutex
	cols, rows int
	grid       [][]rune // rune 0: the right half of a wide rune
	x, y       int
	wrapNext   bool // the last column was written: the next rune wraps
	gone       []string
	frames     int // writes that cleared to the end of the screen
}

// NewVT is a blank terminal of cols×rows, the cursor at its top left.
func NewVT(t *testing.T, cols, rows int) *VT {
	v := &VT{t: t, cols: cols, rows: rows}
	for range rows {
		v.grid = append(v.grid, v.blank())
	}
	return v
}

func (v *VT) blank() []rune { return []rune(strings.Repeat(" ", v.cols)) }

// Write replays p on the terminal.
func (v *VT) Write(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := string(p)
	for len(s) > 0 {
		if strings.HasPrefix(s, "\x1b[") {
			end := strings.IndexFunc(s[2:], func(r rune) bool { return r >= 0x40 && r <= 0x7e })
			if end < 0 {
				v.t.Errorf("unfinished escape sequence %q", s)
				return len(p), nil
			}
			v.csi(s[2:2+end], s[2+end])
			s = s[3+end:]
			continue
		}
		r := []rune(s)[0]
		s = s[len(string(r)):]
		switch {
		case r == '\r':
			v.x, v.wrapNext = 0, false
		case r == '\n':
			v.down()
		case r < 0x20 || r == 0x7f || termui.Unsafe(r):
			v.t.Errorf("control character %q reached the terminal", r)
		default:
			v.put(r)
		}
	}
	return len(p), nil
}

func (v *VT) csi(param string, final byte) {
	n := 1
	if param != "" {
		if _, err := fmt.Sscanf(param, "%d", &n); err != nil {
			v.t.Errorf("escape sequence ESC[%s%c: bad parameter", param, final)
		}
	}
	v.wrapNext = false
	switch {
	case final == 'A':
		v.y = max(v.y-n, 0)
	case final == 'C':
		v.x = min(v.x+n, v.cols-1)
	case final == 'J' && param == "":
		v.frames++
		copy(v.grid[v.y][v.x:], v.blank())
		for y := v.y + 1; y < v.rows; y++ {
			v.grid[y] = v.blank()
		}
	case final == 'K' && param == "":
		copy(v.grid[v.y][v.x:], v.blank())
	default:
		v.t.Errorf("unexpected escape sequence ESC[%s%c", param, final)
	}
}

func (v *VT) down() {
	v.wrapNext = false
	if v.y < v.rows-1 {
		v.y++
		return
	}
	v.gone = append(v.gone, strings.TrimRight(string(v.grid[0]), " "))
	v.grid = append(v.grid[1:], v.blank())
}

func (v *VT) put(r rune) {
	w := termui.Width(string(r))
	if v.wrapNext || v.x+w > v.cols {
		v.x = 0
		v.down()
	}
	v.grid[v.y][v.x] = r
	if w == 2 {
		v.grid[v.y][v.x+1] = 0
	}
	v.x += w
	if v.x >= v.cols {
		v.x, v.wrapNext = v.cols-1, true
	}
}

// Screen returns the rows on the screen, trailing blanks cut, without the
// blank rows at the bottom, and the cursor.
func (v *VT) Screen() (rows []string, x, y int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, r := range v.grid {
		rows = append(rows, strings.TrimRight(strings.ReplaceAll(string(r), "\x00", ""), " "))
	}
	for len(rows) > 0 && rows[len(rows)-1] == "" {
		rows = rows[:len(rows)-1]
	}
	return rows, v.x, v.y
}

// All is everything printed: the rows scrolled off the top, then the
// screen's.
func (v *VT) All() []string {
	rows, _, _ := v.Screen()
	v.mu.Lock()
	defer v.mu.Unlock()
	return append(append([]string(nil), v.gone...), rows...)
}
