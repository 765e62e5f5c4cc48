package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/muxfer/muxfer/internal/termui"
)

func TestLineOutputQueuesLinesForAFileOnly(t *testing.T) {
	var buf bytes.Buffer
	if lineOutput(&buf) != &buf {
		t.Error("a writer that is not a file was wrapped")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, ok := lineOutput(f).(*termui.LineWriter)
	if !ok {
		t.Fatal("a regular file was not given a LineWriter")
	}
	l.Write([]byte("line\n"))
	l.Close()
	if b, err := os.ReadFile(f.Name()); err != nil || string(b) != "line\n" {
		t.Fatalf("the file holds %q (%v) after close, want the line", b, err)
	}
}
