package main

// Progress of every running transfer, both ways: one status line per
// transfer and one summary bar below them, each fitted to the terminal's
// width (a termui.Screen draws them above the chat's prompt, or in the
// strip on stderr). Each draws from a handle, a progressLine: ui.upload for
// a send, ui.download for an offer coming in, fed by the view from the session's events. The
// counts are kept in every mode; only a screen or a strip shows them.

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/muxfer/muxfer/internal/termui"
	"github.com/schollz/progressbar/v3"
)

// meter is one running transfer. Its fields are guarded by ui.mu.
type meter struct {
	label  string // already safe
	upload bool
	files  int
	total  int64
	done   int64  // bytes counted done: sent, or held by the receiver already
	moved  int64  // of done, and of earlier attempts, the bytes that moved
	opened int    // files started
	file   string // the file last started, already safe
	ended  bool
	// waiting names whom an offer waits for ("bob"), until the answer
	// comes; the line says so instead of a rate that measures nothing.
	waiting string

	// The rate shown: bytes moved a second over the last second or so,
	// from one sample a second at most (taken when the line is drawn).
	// The clock starts when the first bytes move (sampled is zero until
	// then): the wait for an answer and resumed bytes do not count.
	sampled      time.Time
	sampledMoved int64
	rate         float64
}

// moving counts n more bytes moved (and done), starting the clock.
func (m *meter) moving(n int64, now time.Time) {
	if m.sampled.IsZero() {
		m.sampled, m.sampledMoved = now, m.moved
	}
	m.done += n
	m.moved += n
}

// speed is the rate to show at now, in bytes a second.
func (m *meter) speed(now time.Time) float64 {
	if m.sampled.IsZero() {
		return 0
	}
	if dt := now.Sub(m.sampled).Seconds(); dt >= 1 {
		// Half the last second's rate, half the earlier: it follows a
		// change within seconds without jumping about.
		// A second in which nothing moved is 0 at once: a transfer
		// that stalls (its recipient left) shows no rate it no longer has.
		r := float64(m.moved-m.sampledMoved) / dt
		if m.rate > 0 && r > 0 {
			r = (r + m.rate) / 2
		}
		m.sampled, m.sampledMoved, m.rate = now, m.moved, max(r, 0)
	}
	if dt := now.Sub(m.sampled).Seconds(); m.rate == 0 && dt >= 0.25 {
		// The first second: what there is, once there is enough of it to
		// tell (a first write of a megabyte in a microsecond is not a rate).
		return float64(m.moved-m.sampledMoved) / dt
	}
	return m.rate
}

// open reports whether m's total is not known. A file of unknown size
// (send --stdin, a pipe) counts nothing in the total an upload starts
// with (client.Files.Totals) and -1 in an offer's
// (protocol.UnknownSize), so the total is what is known at most: a
// transfer is open when its total is not above zero, or the bytes done
// have passed it. An open transfer shows the bytes done, without a
// percentage.
func (m *meter) open() bool { return m.total <= 0 || m.done > m.total }

// counted is what m counts for in the summary bar: its total, or, if
// that is not known, the bytes done.
func (m *meter) counted() (total, done int64) {
	if m.open() {
		return m.done, m.done
	}
	return m.total, m.done
}

// status is the meter's line for a terminal cols columns wide:
//
//	upload  photos/2024/img_0412.jpg  42%  12.1 MiB of 28.8 MiB  1.1 MiB/s  file 3/9
//	upload  src.tar  12.1 MiB  1.1 MiB/s
//	→ bob  waiting for bob to accept
//
// The second is open (see open): it counts the bytes, with no end to
// measure them against. A narrow terminal drops what is at the end first, and shortens the
// file's name from its start, down to a few columns.
func (m *meter) status(now time.Time, cols int) string {
	head := m.label + "  "
	if m.waiting != "" {
		return termui.Fit(head+"waiting for "+m.waiting+" to accept", cols)
	}
	speed := size(int64(m.speed(now))) + "/s"
	tail := []string{size(m.done), speed} // no end to measure against
	if !m.open() {
		tail = []string{fmt.Sprintf("%d%%", m.done*100/m.total), size(m.done) + " of " + size(m.total), speed}
	}
	if m.files > 1 {
		tail = append(tail, fmt.Sprintf("file %d/%d", m.opened, m.files))
	}
	for k := len(tail); k >= 1; k-- {
		rest := strings.Join(tail[:k], "  ")
		room := cols - termui.Width(head) - termui.Width(rest) - 2
		switch {
		case m.file == "" && room >= -2:
			return head + rest
		case room >= 8 || k == 1 && room >= 1:
			return head + termui.Shorten(m.file, room) + "  " + rest
		}
	}
	return termui.Fit(head+tail[0], cols)
}

// maxStatusLines bounds the transfers listed one a line; more are
// counted on one line of their own.
const maxStatusLines = 6

// progressLine is a handle on one transfer's progress: the legacy bar on
// stderr, and in the interactive terminal a status line of its own. Its
// methods are safe for concurrent use; outside the interactive terminal
// (and without --progress always) nothing shows it.
type progressLine struct {
	u  *ui
	to string // a send's recipient: the line waits for it to accept
	m  *meter // set by started for a send, under u.mu
}

// upload is the line of a send to the client called to (the hub if ""),
// labelled "upload" or "→ bob", shown once started. A send that
// reconnects starts again on the same line, which counts the new attempt.
func (u *ui) upload(to string) *progressLine { return &progressLine{u: u, to: to} }

// download is the line of files files and bytes bytes coming in,
// labelled label ("← alice", say; "download" if empty).
func (u *ui) download(label string, files int, bytes int64) *progressLine {
	if label == "" {
		label = "download"
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return &progressLine{u: u, m: u.addMeterLocked(&meter{label: label, files: files, total: bytes})}
}

// started counts a send of files files and bytes bytes, or what is left
// of one after a reconnect or a wait.
func (p *progressLine) started(files int, bytes int64) {
	u := p.u
	u.mu.Lock()
	defer u.mu.Unlock()
	if p.m == nil {
		label := "upload"
		if p.to != "" {
			label = "→ " + p.to
		}
		p.m = u.addMeterLocked(&meter{label: label, upload: true, files: files, total: bytes, waiting: p.to})
		return
	}
	// Again, with what is left: the files delivered stay done, and those
	// resumed count as done again when their streams start (held), so the
	// line goes on from where it stood. The clock starts again with the
	// next bytes that move.
	m := p.m
	m.done = max(m.total-bytes, 0)
	m.opened = m.files - files
	m.waiting = p.to
	m.sampled, m.rate = time.Time{}, 0
	u.changedLocked(true)
}

// opened names the file on its way: for a send, the offer was accepted.
func (p *progressLine) opened(path string) {
	p.u.mu.Lock()
	defer p.u.mu.Unlock()
	if p.m != nil {
		p.m.waiting = ""
		p.m.opened++
		p.m.file = safe(path)
		p.u.changedLocked(false)
	}
}

// wrote counts n bytes that moved, and held those a send's receiver held
// already, which count as done without moving.
func (p *progressLine) wrote(n, held int64) {
	p.u.mu.Lock()
	defer p.u.mu.Unlock()
	if p.m != nil {
		p.m.moving(n, time.Now())
		p.m.done += held
		p.u.changedLocked(false)
	}
}

// end removes the line; calling it again does nothing.
func (p *progressLine) end() {
	p.u.mu.Lock()
	defer p.u.mu.Unlock()
	p.u.removeMeterLocked(p.m)
}

// addMeterLocked shows m, a new transfer, and returns it.
func (u *ui) addMeterLocked(m *meter) *meter {
	m.label = safe(m.label)
	u.meters = append(u.meters, m)
	u.changedLocked(true)
	return m
}

// removeMeterLocked ends m. Its bytes stay in the summary bar, as done,
// until no transfer runs.
func (u *ui) removeMeterLocked(m *meter) {
	if m == nil || m.ended {
		return
	}
	m.ended = true
	u.meters = slices.DeleteFunc(u.meters, func(x *meter) bool { return x == m })
	total, _ := m.counted()
	u.ended += total
	if len(u.meters) == 0 {
		u.ended, u.since, u.sum = 0, time.Time{}, nil
	}
	u.changedLocked(true)
}

// regionLocked is what the terminal shows of the transfers: a status line
// for each (at most maxStatusLines, and at most what leaves three rows of
// the terminal free) and the summary bar, each fitted to cols columns.
// Nothing when progress is off; no bar while every transfer waits for an
// answer, since nothing moves.
func (u *ui) regionLocked(cols, rows int) []string {
	if !u.progress || len(u.meters) == 0 {
		return nil
	}
	now := time.Now()
	shown := min(len(u.meters), maxStatusLines, max(rows-3, 1))
	if shown < len(u.meters) {
		shown = max(shown-1, 0)
	}
	var lines []string
	for _, m := range u.meters[:shown] {
		lines = append(lines, m.status(now, cols))
	}
	if more := len(u.meters) - shown; more > 0 {
		lines = append(lines, termui.Fit(fmt.Sprintf("… and %d more", more), cols))
	}
	if slices.ContainsFunc(u.meters, func(m *meter) bool { return m.waiting == "" }) {
		lines = append(lines, u.summaryLocked(now, cols))
	}
	return lines
}

// summaryLocked renders the summary bar for cols columns: every running
// transfer's bytes, and those of the transfers that ended since none was
// running, the rate of the bytes that moved, the time since they started
// moving and the time left at that rate:
//
//	1 up, 1 down  42% |██████████              | (1.9 GiB/4.5 GiB, 12.0 MiB/s) [2m31s:3m28s]
//
// While a transfer's total is not known (a file of unknown size), there
// is no end to draw a bar to: openSummary counts the bytes instead.
//
// The bar is progressbar's (sumBar); the figures after it are the
// meters', which count only the bytes that moved, from when they moved.
// A narrow terminal loses the byte counts, then the times, then the
// rate, and the bar narrows to fit what is left.
func (u *ui) summaryLocked(now time.Time, cols int) string {
	ups, downs := 0, 0
	total, done := u.ended, u.ended
	open := false // some transfer's total is not known
	var rate float64
	for _, m := range u.meters {
		if m.upload {
			ups++
		} else {
			downs++
		}
		t, d := m.counted()
		total += t
		done += min(d, t)
		open = open || m.open()
		rate += m.speed(now)
		if !m.sampled.IsZero() && u.since.IsZero() {
			u.since = now // the first bytes moved
		}
	}
	var what []string
	if ups > 0 {
		what = append(what, fmt.Sprintf("%d up", ups))
	}
	if downs > 0 {
		what = append(what, fmt.Sprintf("%d down", downs))
	}
	head := strings.Join(what, ", ")
	elapsed, left := "0s", "?"
	if !u.since.IsZero() {
		elapsed = now.Sub(u.since).Round(time.Second).String()
	}
	if rate >= 1 {
		left = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	speed := size(int64(rate)) + "/s"
	if open {
		return openSummary(head, done, speed, elapsed, cols)
	}
	times := fmt.Sprintf("[%s:%s]", elapsed, left)
	tails := []string{
		fmt.Sprintf(" (%s/%s, %s) %s", size(done), size(total), speed, times),
		fmt.Sprintf(" (%s) %s", speed, times),
		fmt.Sprintf(" (%s)", speed),
		"",
	}
	for _, tail := range tails {
		// progressbar writes the head, the percentage in five columns,
		// a space and the bar between its two ends.
		width := min(24, cols-termui.Width(head+tail)-8)
		if width >= 6 || tail == "" && width >= 1 {
			return u.sumBar(head, done, total, width) + tail
		}
	}
	pct := int64(100)
	if total > 0 {
		pct = done * 100 / total
	}
	return termui.Fit(fmt.Sprintf("%s %d%%", head, pct), cols)
}

// openSummary is the summary for cols columns while some transfer's
// total is not known (see meter.open): the bytes done, the rate and the
// time since they started moving, without a bar or the time left:
//
//	1 up, 1 down  4.0 MiB (1.2 MiB/s) [3s]
//
// A narrow terminal loses the time, then the rate.
func openSummary(head string, done int64, speed, elapsed string, cols int) string {
	line := head + "  " + size(done)
	for _, tail := range []string{fmt.Sprintf(" (%s) [%s]", speed, elapsed), fmt.Sprintf(" (%s)", speed)} {
		if termui.Width(line+tail) <= cols {
			return line + tail
		}
	}
	return termui.Fit(line, cols)
}

// sumBar is progressbar's rendering of done of total, width columns of
// bar after head: "1 up  42% |██████████              |". The bar draws
// into nothing (the screen places its text, so that only the screen moves
// the cursor), and is made again when the width changes: the terminal's
// width is read before every redraw, so a window made narrower gets a
// narrower bar at once.
func (u *ui) sumBar(head string, done, total int64, width int) string {
	total = max(total, 1)
	// A bar that reached its end stops rendering: a transfer that starts
	// after that needs a new one.
	if u.sum == nil || u.sumWidth != width || u.sum.IsFinished() && done < total {
		u.sum = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(io.Discard),
			progressbar.OptionSetWidth(width),
			progressbar.OptionSetPredictTime(false), // the meters' times, not its own
		)
		u.sumWidth = width
	}
	if u.sum.GetMax64() != total {
		u.sum.ChangeMax64(total)
	}
	u.sum.Set64(min(done, total))
	u.sum.Describe(head) // renders, whether the percentage changed or not
	return strings.TrimRight(strings.TrimPrefix(u.sum.String(), "\r"), " ")
}

// changedLocked tells the screen, if one is attached, that progress
// changed; it redraws at most ten times a second. The strip on stderr
// redraws here, as often, or at once when a transfer came or went (now).
func (u *ui) changedLocked(now bool) {
	switch {
	case !u.progress:
	case u.scr != nil:
		u.scr.Changed(now)
	case u.strip != nil:
		u.strip.Changed(now)
	}
}
