package main

// Progress of every running transfer, both ways, for the interactive
// terminal: one status line per transfer and one summary bar below them
// (screen.go draws them above the prompt). Uploads report through a
// transfer.Observer (observerFor), downloads through a handle (download).
// The counts are kept in every mode; only the terminal screen shows them.

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/muxfer/muxfer/transfer"
	"github.com/schollz/progressbar/v3"
)

// meter is one running transfer. Its fields are guarded by ui.mu.
type meter struct {
	label  string // already safe
	upload bool
	files  int
	total  int64
	done   int64
	opened int    // files started
	file   string // the file last started, already safe
	ended  bool

	// The rate shown: bytes a second over the last second or so, from
	// one sample a second at most (taken when the line is drawn).
	sampled     time.Time
	sampledDone int64
	rate        float64

	// An upload's first Started and what its observer heard of each file
	// (path: status, "" while sending), to tell which meter a ui.finish
	// ends: finish is given the report, not the observer.
	first      [2]int64 // files, bytes
	heardFiles map[string]string
}

// status is the meter's line for a terminal cols columns wide:
//
//	upload  photos/2024/img_0412.jpg  42%  12.1 MB of 28.8 MB  1.1 MB/s  file 3/9
//
// A narrow terminal drops what is at the end first, and shortens the
// file's name from its start, down to a few columns.
func (m *meter) status(now time.Time, cols int) string {
	pct := int64(100)
	if m.total > 0 {
		pct = min(m.done, m.total) * 100 / m.total
	}
	if dt := now.Sub(m.sampled).Seconds(); dt >= 1 {
		// Half the last second's rate, half the earlier: it follows a
		// change within seconds without jumping about.
		r := float64(m.done-m.sampledDone) / dt
		if m.rate > 0 {
			r = (r + m.rate) / 2
		}
		m.sampled, m.sampledDone, m.rate = now, m.done, max(r, 0)
	}
	rate := m.rate
	if dt := now.Sub(m.sampled).Seconds(); rate == 0 && dt > 0 {
		rate = float64(m.done-m.sampledDone) / dt // the first second: what there is
	}
	tail := []string{fmt.Sprintf("%d%%", pct), size(m.done) + " of " + size(m.total), size(int64(rate)) + "/s"}
	if m.total == 0 && m.done > 0 { // a file of unknown size (send --stdin): no end to measure against
		tail = tail[1:]
		tail[0] = size(m.done)
	}
	if m.files > 1 {
		tail = append(tail, fmt.Sprintf("file %d/%d", m.opened, m.files))
	}
	head := m.label + "  "
	for k := len(tail); k >= 1; k-- {
		rest := strings.Join(tail[:k], "  ")
		room := cols - runesWidth([]rune(head)) - runesWidth([]rune(rest)) - 2
		switch {
		case m.file == "" && room >= -2:
			return head + rest
		case room >= 8 || k == 1 && room >= 1:
			return head + shorten(m.file, room) + "  " + rest
		}
	}
	return fit(head+tail[0], cols)
}

// maxStatusLines bounds the transfers listed one a line; more are
// counted on one line of their own.
const maxStatusLines = 6

// observer connects an upload to the bar and the per-file lines.
func (u *ui) observer() transfer.Observer { return u.observerFor("") }

// observerFor connects an upload to the client called to (the hub if "")
// to the progress shown: the legacy bar on stderr, and in the interactive
// terminal a status line of its own, labelled "upload" or "→ bob". Call
// u.finish with the upload's report when it ends: that removes the line.
// A reconnecting upload (client.Deliver) may start again on the same
// observer; the line stays and counts the new attempt.
func (u *ui) observerFor(to string) transfer.Observer {
	label := "upload"
	if to != "" {
		label = "→ " + to
	}
	var m *meter // set by Started, under u.mu
	return transfer.Observer{
		Started: func(files int, bytes int64) {
			u.startBar(bytes)
			u.mu.Lock()
			defer u.mu.Unlock()
			if m == nil || m.ended { // ended: another upload's finish took it for its own
				m = u.addMeterLocked(label, true, files, bytes)
				m.first = [2]int64{int64(files), bytes}
				return
			}
			m.files, m.total, m.done, m.opened = files, bytes, 0, 0
			m.sampled, m.sampledDone, m.rate = time.Now(), 0, 0
			u.changedLocked()
		},
		Opened: func(path string) {
			u.mu.Lock()
			defer u.mu.Unlock()
			u.describeLocked(path)
			if m != nil {
				m.opened++
				m.file = safe(path)
				if _, ok := m.heardFiles[path]; !ok {
					m.heardFiles[path] = ""
				}
				u.changedLocked()
			}
		},
		Wrote: func(n int) {
			u.mu.Lock()
			defer u.mu.Unlock()
			u.wroteLocked(n)
			if m != nil {
				m.done += int64(n)
				u.changedLocked()
			}
		},
		Finished: func(r transfer.FileReport) {
			u.mu.Lock()
			if m != nil {
				m.heardFiles[r.Path] = r.Status
			}
			u.mu.Unlock()
			u.file(to, r)
		},
	}
}

// download is a handle on the progress of a transfer coming in.
type download struct {
	u *ui
	m *meter
}

// download starts the progress of a transfer coming in, of files files
// and bytes bytes, labelled label ("← alice", say; "download" if empty).
// Call done when it ends, however it ends. Its methods are safe for
// concurrent use. Outside the interactive terminal nothing shows it.
func (u *ui) download(label string, files int, bytes int64) *download {
	if label == "" {
		label = "download"
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return &download{u: u, m: u.addMeterLocked(safe(label), false, files, bytes)}
}

// wrote counts n more bytes stored.
func (d *download) wrote(n int) {
	d.u.mu.Lock()
	defer d.u.mu.Unlock()
	d.m.done += int64(n)
	d.u.changedLocked()
}

// opened names the file being stored.
func (d *download) opened(path string) {
	d.u.mu.Lock()
	defer d.u.mu.Unlock()
	d.m.opened++
	d.m.file = safe(path)
	d.u.changedLocked()
}

// done removes the transfer's line; calling it again does nothing.
func (d *download) done() {
	d.u.mu.Lock()
	defer d.u.mu.Unlock()
	d.u.removeMeterLocked(d.m)
}

func (u *ui) addMeterLocked(label string, upload bool, files int, bytes int64) *meter {
	m := &meter{label: safe(label), upload: upload, files: files, total: bytes, sampled: time.Now(),
		heardFiles: map[string]string{}}
	u.meters = append(u.meters, m)
	u.changedLocked()
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
	u.ended += m.total
	if len(u.meters) == 0 {
		u.ended, u.sum = 0, nil
	}
	u.changedLocked()
}

// endUploadLocked removes the meter of the upload whose report rep is.
// The meter is the oldest of those that agree with rep: the same files
// and bytes as the upload's first Started, and every file the observer
// heard of listed in rep, with the status the observer was told. Two
// uploads of the same files at once may swap lines; each line still goes
// when one of them ends.
func (u *ui) endUploadLocked(rep *transfer.Report) {
	if rep == nil {
		return
	}
	listed := map[string]string{}
	var bytes int64
	for _, f := range rep.Files {
		listed[f.Path] = f.Status
		bytes += f.Size
	}
	var best *meter
	for _, m := range u.meters {
		if !m.upload || m.first != [2]int64{int64(len(rep.Files)), bytes} {
			continue
		}
		agrees := true
		for path, status := range m.heardFiles {
			if got, ok := listed[path]; !ok || status != "" && status != got {
				agrees = false
			}
		}
		if agrees && (best == nil || len(m.heardFiles) > len(best.heardFiles)) {
			best = m
		}
	}
	u.removeMeterLocked(best)
}

// regionLocked is what the terminal shows of the transfers: a status line
// for each (at most maxStatusLines, and at most what leaves three rows of
// the terminal free) and the summary bar. Nothing when progress is off.
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
		lines = append(lines, fmt.Sprintf("… and %d more", more))
	}
	return append(lines, fit(u.summaryLocked(), cols))
}

// summaryLocked renders the summary bar: every running transfer's bytes,
// and those of the transfers that ended since none was running. The bar
// is progressbar's, rendered into nothing and read back, so that the
// screen alone moves the cursor.
func (u *ui) summaryLocked() string {
	ups, downs := 0, 0
	total, done := u.ended, u.ended
	for _, m := range u.meters {
		if m.upload {
			ups++
		} else {
			downs++
		}
		total += m.total
		done += min(m.done, m.total)
	}
	var what []string
	if ups > 0 {
		what = append(what, fmt.Sprintf("%d up", ups))
	}
	if downs > 0 {
		what = append(what, fmt.Sprintf("%d down", downs))
	}
	total = max(total, 1)
	// A bar that reached its end stops rendering: a transfer that starts
	// after that needs a new one.
	if u.sum == nil || u.sum.IsFinished() && done < total {
		u.sum = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(io.Discard),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(24),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
		)
	}
	if u.sum.GetMax64() != total {
		u.sum.ChangeMax64(total)
	}
	u.sum.Describe(strings.Join(what, ", "))
	u.sum.Set64(done)
	return strings.TrimSpace(strings.TrimPrefix(u.sum.String(), "\r"))
}

// changedLocked tells the screen, if one is attached, that progress
// changed; it redraws at most ten times a second.
func (u *ui) changedLocked() {
	if u.scr != nil && u.progress {
		u.scr.poke()
	}
}

// uploadTotalsLocked sums the running uploads, to hand them to the legacy
// bar when the screen goes.
func (u *ui) uploadTotalsLocked() (total, done int64) {
	for _, m := range u.meters {
		if m.upload {
			total += m.total
			done += min(m.done, m.total)
		}
	}
	return total, done
}
