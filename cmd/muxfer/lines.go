package main

import (
	"io"
	"os"
	"sync"
	"time"
)

// A send of 5,000 small files prints a line per file, and a write system
// call per line was 5-7% of the sender's CPU when stdout is a file or a
// pipe. lineWriter gathers the lines printed there: a line after a quiet
// spell is written at once, so a chat message or a lone event is never
// late, and the lines of a burst go out together at most lineDelay after
// the last write. close writes out what is left. On a terminal, where a
// person watches, nothing is held back.

// lineDelay is the longest a line waits in a lineWriter.
const lineDelay = 100 * time.Millisecond

// lineWriter holds lines for w (see above). Its write errors are dropped,
// as those of the lines printed straight to stdout are.
type lineWriter struct {
	w io.Writer

	mu     sync.Mutex
	buf    []byte
	last   time.Time   // when w was last written to
	timer  *time.Timer // writes buf out; armed while buf holds lines
	closed bool        // close was called: lines go straight to w
}

// lineOutput returns out itself if it is a terminal or not a file, and
// otherwise a lineWriter on it.
func lineOutput(out io.Writer) io.Writer {
	f, ok := out.(*os.File)
	if !ok || isTerminal(f) {
		return out
	}
	return &lineWriter{w: f}
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.closed || len(l.buf) == 0 && now.Sub(l.last) >= lineDelay {
		l.last = now
		l.w.Write(p)
		return len(p), nil
	}
	l.buf = append(l.buf, p...)
	if len(l.buf) >= 64<<10 {
		l.flushLocked()
		return len(p), nil
	}
	if l.timer == nil {
		l.timer = time.AfterFunc(lineDelay, l.flush)
	} else if len(l.buf) == len(p) { // the first line held since the last flush
		l.timer.Reset(lineDelay)
	}
	return len(p), nil
}

func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *lineWriter) flushLocked() {
	if len(l.buf) == 0 {
		return
	}
	l.w.Write(l.buf)
	l.buf = l.buf[:0]
	l.last = time.Now()
}

// close writes out the lines held; later lines are written at once.
func (l *lineWriter) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
	}
	l.flushLocked()
	l.closed = true
}
