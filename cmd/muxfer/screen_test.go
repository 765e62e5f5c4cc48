package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/internal/termui"
	"github.com/muxfer/muxfer/internal/termui/termtest"
	"github.com/muxfer/muxfer/protocol"
)

// attachedUI is a ui whose screen draws on a termtest.VT of cols×rows, as
// readLines would set it up on a terminal, without the terminal.
func attachedUI(t *testing.T, cols, rows int, progress bool) (*ui, *termui.Screen, *termtest.VT) {
	v := termtest.NewVT(t, cols, rows)
	u := &ui{out: v, errw: io.Discard, progress: progress}
	s := termui.NewScreen(v, func() (int, int) { return cols, rows }, u.regionLocked)
	u.mu.Lock()
	screenHost{u}.Attach(s)
	s.Redraw() // as termui.Input.Run draws it
	u.mu.Unlock()
	return u, s, v
}

// stripUI is a ui that shows progress with no screen attached, as send
// --progress always does (its strip draws nothing without a terminal).
func stripUI(t *testing.T) *ui {
	u, err := newUI(&bytes.Buffer{}, &bytes.Buffer{}, false, "always")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// regionOf is what u shows of the transfers on a terminal cols columns
// wide and 24 rows high.
func regionOf(u *ui, cols int) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.regionLocked(cols, 24)
}

// typeKeys sends input to the ui's line editor as a terminal would.
func typeKeys(t *testing.T, u *ui, s *termui.Screen, input string) []string {
	t.Helper()
	u.mu.Lock()
	sent, end := s.Type([]byte(input))
	u.mu.Unlock()
	if end != termui.None {
		t.Fatalf("typing %q ended input (%d)", input, end)
	}
	return sent
}

// redraw draws the region now, as the editor's loop does at most every
// termui.RedrawEvery.
func redraw(u *ui) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.scr.Redraw()
}

// runesWidth is the number of columns a terminal gives rs.
func runesWidth(rs []rune) int { return termui.Width(string(rs)) }

func TestScreenKeepsTheTypedLineBelowPrintedLines(t *testing.T) {
	u, s, v := attachedUI(t, 60, 12, true)
	up := u.upload("")
	up.started(1, 1000)
	up.opened("big.iso")
	up.wrote(420, 0)
	typeKeys(t, u, s, "hello wor\x1b[D")
	for i := range 15 { // more than the screen holds: it scrolls
		u.message(protocol.Chat{From: "bob", Text: fmt.Sprintf("line %d", i)})
	}
	redraw(u)

	rows, x, y := v.Screen()
	n := len(rows)
	if n != 12 || rows[n-1] != "> hello wor" || y != n-1 || x != len("> hello wo") {
		t.Fatalf("prompt row %q, cursor at %d,%d; want \"> hello wor\" on the last row, cursor on the r\n%s",
			rows[n-1], x, y, strings.Join(rows, "\n"))
	}
	if !strings.HasPrefix(rows[n-3], "upload  big.iso  42%") || !strings.Contains(rows[n-2], "1 up") || !strings.Contains(rows[n-2], "42%") {
		t.Errorf("status line %q and bar %q, want the upload at 42%%", rows[n-3], rows[n-2])
	}
	all := v.All()
	for i := range 15 {
		want := fmt.Sprintf("<bob> line %d", i)
		if got := all[len(all)-3-15+i]; got != want {
			t.Errorf("row %d above the region is %q, want %q:\n%s", i, got, want, strings.Join(all, "\n"))
		}
	}

	typeKeys(t, u, s, "\x1b[Fld")
	if sent := typeKeys(t, u, s, "\r"); len(sent) != 1 || sent[0] != "hello world" {
		t.Errorf("Enter sent %q, want the line typed", sent)
	}
	if rows, _, _ := v.Screen(); rows[len(rows)-1] != ">" || rows[len(rows)-4] != "> hello world" {
		t.Errorf("screen after Enter ends\n%s\nwant the line sent above the region, and an empty prompt", strings.Join(rows[len(rows)-4:], "\n"))
	}
}

func TestScreenShowsPeersControlCharactersEscaped(t *testing.T) {
	u, s, v := attachedUI(t, 80, 10, true)
	typeKeys(t, u, s, "mine")
	evil := "x\x1b[2J\x1b]0;pwned\a\u202egpj.exe\r\nfake"
	u.message(protocol.Chat{From: "e\x1b[31mve", Text: evil})
	u.line("! %s", evil) // an error's text may carry a peer's words
	d := u.download("← "+evil, 1, 10)
	d.opened(evil)
	redraw(u)
	// vt fails the test on any control character that reaches it.
	all := strings.Join(v.All(), "\n")
	for _, want := range []string{`<e\x1b[31mve> x\x1b[2J\x1b]0;pwned\x07\u202egpj.exe\x0d`, `! x\x1b[2J`, `← x\x1b[2J`} {
		if !strings.Contains(all, want) {
			t.Errorf("screen lacks %q:\n%s", want, all)
		}
	}
	d.end()
}

func TestScreenRowsFitTheTerminalWidth(t *testing.T) {
	const cols = 40
	u, s, v := attachedUI(t, cols, 16, true)
	long := strings.Repeat("very/long/folder/", 6) + "file name.bin"
	for i := range 3 {
		o := u.upload(fmt.Sprintf("someone with a long name %d", i))
		o.started(9, 9<<30)
		o.opened(long)
		o.wrote(1<<30, 0)
	}
	d := u.download("← 日本語の名前", 2, 4096)
	d.opened("日本語のファイル名はとても長いです.txt")
	d.wrote(1024, 0)
	typeKeys(t, u, s, strings.Repeat("typing a long line ", 5))
	redraw(u)
	rows, _, _ := v.Screen()
	region := rows[len(rows)-6:]
	for _, r := range region {
		if w := runesWidth([]rune(r)); w >= cols {
			t.Errorf("row %q is %d columns, want fewer than %d", r, w, cols)
		}
	}
	for i, prefix := range []string{"→ someone", "→ someone", "→ someone", "← 日本語の名前", "3 up, 1 down", "… "} {
		if !strings.HasPrefix(region[i], prefix) {
			t.Errorf("region row %d is %q, want it to start with %q", i, region[i], prefix)
		}
	}
	if !strings.Contains(region[0], "11%") || !strings.Contains(region[3], "25%") {
		t.Errorf("status lines lack their percentages:\n%s", strings.Join(region, "\n"))
	}
	d.end()
}

func TestScreenListsAtMostSixTransfersAndCountsTheRest(t *testing.T) {
	u, _, v := attachedUI(t, 80, 30, true)
	var ds []*progressLine
	for i := range 9 {
		ds = append(ds, u.download(fmt.Sprintf("← peer%d", i), 1, 100))
	}
	redraw(u)
	rows, _, _ := v.Screen()
	region := rows[len(rows)-8:]
	if !strings.HasPrefix(region[0], "← peer0") || !strings.HasPrefix(region[4], "← peer4") ||
		region[5] != "… and 4 more" || !strings.HasPrefix(region[6], "9 down") {
		t.Errorf("region:\n%s\nwant 5 status lines, a count of the 4 others, the bar", strings.Join(region, "\n"))
	}
	for _, d := range ds {
		d.end()
		d.end() // a second time does nothing
	}
	redraw(u)
	if rows, _, _ := v.Screen(); len(rows) != 1 || rows[0] != ">" {
		t.Errorf("after every transfer ended the screen shows\n%s\nwant the prompt alone", strings.Join(rows, "\n"))
	}
}

func TestScreenWithoutProgressShowsThePromptAlone(t *testing.T) {
	u, s, v := attachedUI(t, 50, 8, false)
	up := u.upload("")
	up.started(1, 100)
	up.wrote(50, 0)
	typeKeys(t, u, s, "abc")
	u.line("a line")
	if rows, _, _ := v.Screen(); len(rows) != 2 || rows[0] != "a line" || rows[1] != "> abc" {
		t.Errorf("screen\n%s\nwant the line and the prompt", strings.Join(rows, "\n"))
	}
}

func TestEndRemovesTheLineOfItsOwnUpload(t *testing.T) {
	u, _, v := attachedUI(t, 80, 20, true)
	a, b := u.upload("a"), u.upload("b")
	a.started(2, 300)
	b.started(2, 300) // the same totals: each handle ends its own line
	a.opened("x/one")
	b.opened("y/one")
	a.wrote(100, 0)
	b.end()
	u.finish("", "b", &client.Report{Files: []client.FileReport{
		{Path: "y/one", Size: 100, Status: client.Delivered},
		{Path: "y/two", Size: 200, Status: client.Cancelled},
	}}, nil)
	redraw(u)
	rows, _, _ := v.Screen()
	if got := rows[len(rows)-3]; !strings.HasPrefix(got, "→ a  x/one") {
		t.Errorf("after b finished, the status line is %q, want a's", got)
	}
	for _, r := range rows[:len(rows)-3] {
		if strings.HasPrefix(r, "→ b  ") {
			t.Errorf("b's line is still shown: %q", r)
		}
	}
	a.end()
	a.end() // again: nothing
	redraw(u)
	if rows, _, _ := v.Screen(); rows[len(rows)-1] != ">" || strings.HasPrefix(rows[len(rows)-2], "→ a  ") {
		t.Errorf("after a ended too the screen ends\n%s", strings.Join(rows[len(rows)-3:], "\n"))
	}
}

// TestProgressOutsideTheTerminalPrintsNothingNew: where no screen is
// attached, uploads print what they always did on stdout and downloads
// nothing; progress, both ways, goes to stderr only when it is on
// (--progress always here, auto on a terminal).
func TestProgressOutsideTheTerminalPrintsNothingNew(t *testing.T) {
	tests := []struct {
		name     string
		json     bool
		progress string
	}{
		{"text", false, "never"},
		{"json", true, "never"},
		{"legacy bar", false, "always"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			u, err := newUI(&out, &errb, tt.json, tt.progress)
			if err != nil {
				t.Fatal(err)
			}
			d := u.download("← alice", 1, 100)
			d.opened("a.txt")
			d.wrote(100, 0)
			d.end()
			if out.Len() != 0 || (tt.progress == "never") != (errb.Len() == 0) {
				t.Errorf("a download printed %q on stdout and %q on stderr, want nothing but its progress", out.String(), errb.String())
			}
			up := u.upload("bob")
			up.started(1, 100)
			up.opened("a.txt")
			up.wrote(100, 0)
			rep := client.FileReport{Path: "a.txt", Size: 100, Status: client.Delivered, Hash: "xxh3-128:00", Stored: "a.txt"}
			u.file("", "", rep)
			up.end()
			u.finish("", "", &client.Report{Files: []client.FileReport{rep}, Bytes: 100, Elapsed: time.Second}, nil)
			if strings.Contains(out.String(), "bob") {
				t.Errorf("the label reached stdout: %q", out.String())
			}
			if !strings.Contains(out.String(), "a.txt") || (tt.progress == "never") != (errb.Len() == 0) {
				t.Errorf("stdout %q, stderr %q; want the file's line, and a bar only with --progress always", out.String(), errb.String())
			}
			if len(u.meters) != 0 {
				t.Errorf("%d transfers still counted", len(u.meters))
			}
		})
	}
}

// TestDetachGivesRunningUploadsToTheStrip: when input ends (Ctrl-D)
// while an upload runs, chat waits for it; the region is erased and the
// strip on stderr shows the upload from where it is.
func TestDetachGivesRunningUploadsToTheStrip(t *testing.T) {
	u, _, v := attachedUI(t, 80, 10, true)
	var errb bytes.Buffer
	u.strip = termui.NewStrip(&errb, func() (int, int) { return 80, 10 }, u.regionLocked)
	up := u.upload("")
	up.started(1, 1000)
	up.opened("f")
	up.wrote(600, 0)
	if errb.Len() != 0 {
		t.Fatalf("the strip drew while the screen was attached: %q", errb.String())
	}
	u.mu.Lock()
	screenHost{u}.Detach(u.scr)
	u.mu.Unlock()
	if rows, _, _ := v.Screen(); len(rows) != 0 {
		t.Errorf("after detach the screen shows\n%s\nwant the region erased", strings.Join(rows, "\n"))
	}
	if !strings.Contains(errb.String(), "upload  f  60%  600 B of 1000 B") {
		t.Fatalf("no line for the upload on stderr: %q", errb.String())
	}
	up.wrote(400, 0)
	errb.Reset()
	up.end()
	u.finish("", "", &client.Report{Files: []client.FileReport{{Path: "f", Size: 1000, Status: client.Delivered}}}, nil)
	if len(u.meters) != 0 || !strings.HasSuffix(errb.String(), "\x1b[J") {
		t.Errorf("after finish: %d transfers, stderr %q; want none, and the strip erased", len(u.meters), errb.String())
	}
}

func TestStatusLineFollowsTheRateAndNarrowsFromTheEnd(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	m := &meter{label: "upload", files: 3, total: 10 << 20, file: "photos/2024/img_0412.jpg", opened: 2, sampled: t0}
	m.done, m.moved = 512<<10, 512<<10
	if got, want := m.status(t0.Add(500*time.Millisecond), 100), "upload  photos/2024/img_0412.jpg  5%  512.0 KiB of 10.0 MiB  1.0 MiB/s  file 2/3"; got != want {
		t.Errorf("in the first second:\n%q, want\n%q", got, want)
	}
	m.done, m.moved = 2<<20, 2<<20 // 2 MiB in the first second
	m.status(t0.Add(time.Second), 100)
	m.done, m.moved = 5<<19, 5<<19 // then 0.5 MiB in the next: the rate shown is between
	if got := m.status(t0.Add(2*time.Second), 100); !strings.Contains(got, "  1.2 MiB/s") {
		t.Errorf("after a slower second: %q, want 1.2 MiB/s (half the last second, half before)", got)
	}
	tests := []struct {
		cols int
		want string
	}{
		{84, "upload  photos/2024/img_0412.jpg  25%  2.5 MiB of 10.0 MiB  1.2 MiB/s  file 2/3"},
		{63, "upload  …412.jpg  25%  2.5 MiB of 10.0 MiB  1.2 MiB/s  file 2/3"},
		{53, "upload  …412.jpg  25%  2.5 MiB of 10.0 MiB  1.2 MiB/s"},
		{30, "upload  …024/img_0412.jpg  25%"},
		{16, "upload  …pg  25%"},
		{10, "upload  2…"},
	}
	for _, tt := range tests {
		got := m.status(t0.Add(2*time.Second), tt.cols)
		if got != tt.want || runesWidth([]rune(got)) > tt.cols {
			t.Errorf("%d columns: %q, want %q", tt.cols, got, tt.want)
		}
	}
}

// TestStatusLineWaitsThenCountsWhatMoved: a send to a person says whom it
// waits for, with no bar, until the answer; bytes the receiver held count
// as done and not in the rate; a send that starts again (the recipient
// left and came back) goes on from where its line stood.
func TestStatusLineWaitsThenCountsWhatMoved(t *testing.T) {
	u := stripUI(t)
	region := func() []string { return regionOf(u, 79) }
	o := u.upload("bob")
	o.started(2, 1000)
	if got := region(); len(got) != 1 || got[0] != "→ bob  waiting for bob to accept" {
		t.Errorf("before the answer: %q, want the wait alone", got)
	}
	o.opened("a")
	o.wrote(0, 500)
	if got := region(); len(got) != 2 || !strings.Contains(got[0], "50%  500 B of 1000 B  0 B/s") {
		t.Errorf("after 500 B found at the receiver: %q, want 50%% at 0 B/s", got)
	}
	o.wrote(100, 0)
	o.started(1, 400) // again, with the file left
	if got := region(); len(got) != 1 || !strings.Contains(got[0], "waiting for bob") {
		t.Errorf("offered again: %q, want the wait", got)
	}
	o.opened("b")
	if got := region(); len(got) != 2 || !strings.Contains(got[0], "60%  600 B of 1000 B") || !strings.Contains(got[0], "file 2/2") {
		t.Errorf("accepted again: %q, want the line from where it stood (60%%, file 2/2)", got)
	}
}

// TestSummaryBarFitsEveryWidth: every row of progress, the summary bar
// that progressbar draws included, fits the width it is given, from a
// wide window to a very narrow one and back; the bar stays while there
// is room for it, and bytes the receiver held count as done but not in
// the rate.
func TestSummaryBarFitsEveryWidth(t *testing.T) {
	u := stripUI(t)
	o := u.upload("")
	o.started(3, 64<<20)
	o.opened("photos/2024/a very long name for a picture.jpg")
	o.wrote(0, 16<<20)
	u.mu.Lock()
	defer u.mu.Unlock()
	if got := u.regionLocked(99, 24); len(got) != 2 || !strings.HasPrefix(got[1], "1 up  25% |██████") || !strings.Contains(got[1], "(16.0 MiB/64.0 MiB, 0 B/s)") {
		t.Errorf("after 16 MiB held: %q, want the bar at 25%% and no rate", got)
	}
	for _, cols := range []int{120, 99, 79, 60, 39, 30, 20, 12, 8, 39, 99} {
		region := u.regionLocked(cols, 24)
		for _, l := range region {
			if w := runesWidth([]rune(l)); w > cols {
				t.Errorf("%d columns: %q is %d wide", cols, l, w)
			}
		}
		if bar := region[len(region)-1]; cols >= 30 && !strings.Contains(bar, "|█") {
			t.Errorf("%d columns: %q, want a bar", cols, bar)
		}
	}
}

// TestProgressOfAFileOfUnknownSizeCountsWhatMoved: a file of unknown size
// (send --stdin) counts nothing in the total its upload starts with, and
// an offer's total counts it as -1 (protocol.UnknownSize). Its line and
// the summary bar show the bytes that moved, with no percentage and no
// bar; its bytes stay in the bar when it ends while another transfer
// runs, and its report ends its line.
func TestProgressOfAFileOfUnknownSizeCountsWhatMoved(t *testing.T) {
	u := stripUI(t)
	region := func() []string { return regionOf(u, 99) }
	noFraction := func(when string, got []string) {
		t.Helper()
		for _, l := range got {
			if strings.Contains(l, "%") || strings.Contains(l, "|") || strings.Contains(l, " of ") {
				t.Errorf("%s: %q shows a fraction of a total nobody knows", when, l)
			}
		}
	}
	up := u.upload("")
	up.started(1, 0) // client.Files.Totals: nothing for the file of unknown size
	up.opened("dir.tar")
	got := region()
	if len(got) != 2 || !strings.HasPrefix(got[0], "upload  dir.tar  0 B  ") || !strings.HasPrefix(got[1], "1 up  0 B ") {
		t.Errorf("before the first byte: %q, want the line and the bar at 0 B", got)
	}
	noFraction("before the first byte", got)
	up.wrote(3<<20, 0)
	got = region()
	if len(got) != 2 || !strings.HasPrefix(got[0], "upload  dir.tar  3.0 MiB  ") || !strings.HasPrefix(got[1], "1 up  3.0 MiB ") {
		t.Errorf("after 3 MiB: %q, want 3.0 MiB on the line and on the bar", got)
	}
	noFraction("after 3 MiB", got)

	down := u.download("← alice", 1, protocol.UnknownSize)
	down.opened("log.txt")
	down.wrote(1<<20, 0)
	got = region()
	if len(got) != 3 || !strings.HasPrefix(got[1], "← alice  log.txt  1.0 MiB  ") || !strings.HasPrefix(got[2], "1 up, 1 down  4.0 MiB ") {
		t.Errorf("with a download of unknown size: %q, want it at 1.0 MiB and the bar at 4.0 MiB", got)
	}
	noFraction("with a download of unknown size", got)

	rep := client.FileReport{Path: "dir.tar", Size: 3 << 20, Status: client.Delivered}
	u.file("", "", rep)
	up.end()
	u.finish("", "", &client.Report{Files: []client.FileReport{rep}, Bytes: rep.Size, Elapsed: time.Second}, nil)
	got = region()
	if len(got) != 2 || !strings.HasPrefix(got[0], "← alice") || !strings.HasPrefix(got[1], "1 down  4.0 MiB ") {
		t.Errorf("after the upload ended: %q, want the download's line alone and the bar still at 4.0 MiB", got)
	}
	noFraction("after the upload ended", got)
	down.end()
	if len(u.meters) != 0 {
		t.Errorf("%d transfers still counted after both ended", len(u.meters))
	}
}
