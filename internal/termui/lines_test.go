package termui

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// writeLog records each Write it is given as one entry, so that a test
// sees how lines were grouped into writes.
type writeLog struct {
	mu     sync.Mutex
	writes []string
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func (w *writeLog) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

// stuckWriter is a slow reader's pipe: each Write says it started on
// entered, then waits for release before it records its bytes.
type stuckWriter struct {
	writeLog
	entered chan struct{}
	release chan struct{}
}

func newStuckWriter() *stuckWriter {
	return &stuckWriter{entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	w.entered <- struct{}{}
	<-w.release
	return w.writeLog.Write(p)
}

func TestLineWriterWritesALineWithoutWaitingForATimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out writeLog
		l := NewLineWriter(&out)
		defer l.Close()
		start := time.Now()
		for i, line := range []string{"hello\n", "again\n"} {
			l.Write([]byte(line))
			// Every goroutine of the bubble is blocked now: a line
			// still held would wait for a timer that only a later
			// Wait could fire.
			synctest.Wait()
			if got := out.get(); len(got) != i+1 || got[i] != line {
				t.Fatalf("after line %d, with the writer idle: writes %q, want %q last", i+1, got, line)
			}
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("the bubble's clock moved %v: something waited for a timer", d)
		}
	})
}

func TestLineWriterWritesLinesQueuedBehindASlowWriteInOneWrite(t *testing.T) {
	w := newStuckWriter()
	l := NewLineWriter(w)
	l.Write([]byte("first\n"))
	<-w.entered // the goroutine is writing "first" and cannot return yet
	var burst strings.Builder
	for i := range 5000 {
		line := fmt.Sprintf("verified file%04d\n", i)
		burst.WriteString(line)
		l.Write([]byte(line))
	}
	close(w.release)
	l.Close()
	got := w.get()
	if len(got) != 2 || got[0] != "first\n" || got[1] != burst.String() {
		t.Fatalf("%d writes (first %.40q), want 2: the line in progress, then all 5,000 queued behind it together", len(got), got)
	}
}

func TestLineWriterCloseWritesWhatIsQueuedThenWritesAtOnce(t *testing.T) {
	w := newStuckWriter()
	l := NewLineWriter(w)
	l.Write([]byte("a\n"))
	<-w.entered
	l.Write([]byte("b\n"))
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		l.Close()
	}()
	close(w.release)
	<-closed
	if got := strings.Join(w.get(), ""); got != "a\nb\n" {
		t.Fatalf("after close: %q, want both lines", got)
	}
	l.Write([]byte("c\n"))
	if got := strings.Join(w.get(), ""); got != "a\nb\nc\n" {
		t.Fatalf("a line after close: %q, want it written before Write returns", got)
	}
	l.Close() // a second close is harmless
}

func TestLineWriterKeepsEveryLineWholeAndInOrderUnderConcurrentWrites(t *testing.T) {
	var out writeLog
	l := NewLineWriter(&out)
	const writers, lines = 8, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				l.Write(fmt.Appendf(nil, "%d %d\n", g, i))
			}
		})
	}
	wg.Go(func() { l.Close() }) // lines that race with Close are written too, after the rest
	wg.Wait()
	next := make([]int, writers)
	all := strings.Join(out.get(), "")
	for _, line := range strings.Split(strings.TrimSuffix(all, "\n"), "\n") {
		var g, i int
		if _, err := fmt.Sscanf(line, "%d %d", &g, &i); err != nil || g < 0 || g >= writers {
			t.Fatalf("line %q was not written whole", line)
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d came where line %d should", g, i, next[g])
		}
		next[g]++
	}
	for g, n := range next {
		if n != lines {
			t.Errorf("writer %d: %d lines written, want %d", g, n, lines)
		}
	}
}
