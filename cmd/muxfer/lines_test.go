package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLineWriterWritesALineAfterAQuietSpellAtOnce(t *testing.T) {
	var out lockedBuffer
	l := &lineWriter{w: &out}
	l.Write([]byte("hello\n"))
	if got := out.String(); got != "hello\n" {
		t.Fatalf("written at once: %q, want the line", got)
	}
}

func TestLineWriterGathersABurstAndWritesItWithinTheDelay(t *testing.T) {
	var out lockedBuffer
	l := &lineWriter{w: &out}
	start := time.Now()
	for _, s := range []string{"a\n", "b\n", "c\n"} {
		l.Write([]byte(s))
	}
	if got := out.String(); got != "a\n" {
		t.Fatalf("written at once: %q, want the first line only", got)
	}
	if !within(5*time.Second, func() bool { return out.String() == "a\nb\nc\n" }) {
		t.Fatalf("after 5 s: %q, want all three lines", out.String())
	}
	if d := time.Since(start); d < lineDelay {
		t.Errorf("the burst came out after %v, before the delay of %v", d, lineDelay)
	}
}

func TestLineWriterCloseWritesWhatItHolds(t *testing.T) {
	var out lockedBuffer
	l := &lineWriter{w: &out}
	l.Write([]byte("a\n"))
	l.Write([]byte("b\n"))
	l.close()
	if got := out.String(); got != "a\nb\n" {
		t.Fatalf("after close: %q", got)
	}
	l.Write([]byte("c\n"))
	if got := out.String(); got != "a\nb\nc\n" {
		t.Fatalf("a line after close: %q, want it written at once", got)
	}
}

func TestLineWriterWritesALargeBurstWithoutWaiting(t *testing.T) {
	var out lockedBuffer
	l := &lineWriter{w: &out}
	line := append(bytes.Repeat([]byte("x"), 1023), '\n')
	for range 65 {
		l.Write(line)
	}
	if n := len(out.String()); n != 65*len(line) {
		t.Fatalf("%d bytes written, want all %d: a full buffer goes out at once", n, 65*len(line))
	}
}

func TestLineOutputHoldsLinesForAFileOnly(t *testing.T) {
	var buf bytes.Buffer
	if lineOutput(&buf) != &buf {
		t.Error("a writer that is not a file was wrapped")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := lineOutput(f).(*lineWriter); !ok {
		t.Error("a regular file was not given a lineWriter")
	}
}
