package termui

import (
	"io"
	"sync"
)

// A send of 5,000 small files prints a line per file, and a write system
// call per line was 5-7% of the sender's CPU when stdout is a file or a
// pipe. A script or a bot reading `chat --json` on a pipe, though, must see
// each line when it happens. LineWriter does both without a timer: Write
// only queues a line and wakes a goroutine of the LineWriter's own, which
// writes everything queued by the time it runs in one write. A lone line
// goes out at once; lines printed while a write is in progress, or before
// the goroutine got a core, go out together in the next. Close writes out
// what is left and ends the goroutine. On a terminal, where a person
// watches, lines go straight to it, without a LineWriter.

// LineWriter queues lines for w (see above). Its write errors are dropped,
// as those of the lines printed straight to stdout are. Make one with
// NewLineWriter; its Close must be called.
type LineWriter struct {
	w    io.Writer
	wake chan struct{} // holds a token while lines may wait in buf, or after Close
	done chan struct{} // closed when the goroutine has written its last line

	mu     sync.Mutex
	buf    []byte // lines queued, not yet taken by the goroutine
	closed bool   // Close was called: lines go straight to w once done is closed
}

// keptBuf is the largest buffer a LineWriter keeps for the next lines
// after writing it: a burst larger than this (a summary listing 100,000
// files) does not hold its memory for the rest of a long chat.
const keptBuf = 1 << 20

// NewLineWriter starts the goroutine that writes to w; Close ends it.
func NewLineWriter(w io.Writer) *LineWriter {
	l := &LineWriter{w: w, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go l.run()
	return l
}

func (l *LineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	if !l.closed {
		l.buf = append(l.buf, p...)
		l.mu.Unlock()
		l.poke()
		return len(p), nil
	}
	l.mu.Unlock()
	// After Close, once the goroutine has written what was queued before
	// it, a line is written at once, in order.
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Write(p)
	return len(p), nil
}

// poke wakes the goroutine, or leaves it the token it has yet to take:
// either way it takes buf after this line was queued.
func (l *LineWriter) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run writes the lines queued, all of them in one write each time it
// wakes, until Close.
func (l *LineWriter) run() {
	defer close(l.done)
	var out []byte
	for range l.wake {
		l.mu.Lock()
		out, l.buf = l.buf, out[:0]
		closed := l.closed
		l.mu.Unlock()
		if len(out) > 0 {
			l.w.Write(out)
		}
		if closed {
			return
		}
		if cap(out) > keptBuf {
			out = nil
		}
	}
}

// Close writes out the lines queued and ends the goroutine; later lines
// are written at once. It may be called more than once.
func (l *LineWriter) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.poke()
	<-l.done
	return nil
}
