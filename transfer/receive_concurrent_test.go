package transfer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muxfer/muxfer/protocol"
)

// heldStream feeds Receive through a pipe in two steps, so that a test can
// interleave two transfers: start returns once Receive has created the
// file's .part and read the first half; finish sends the rest.
type heldStream struct {
	pw      *io.PipeWriter
	content []byte
	results chan heldResult
}

type heldResult struct {
	res protocol.Result
	err error
}

func startHeld(t *testing.T, in *Incoming, content []byte) *heldStream {
	t.Helper()
	pr, pw := io.Pipe()
	s := &heldStream{pw: pw, content: content, results: make(chan heldResult, 1)}
	go func() {
		res, err := in.Receive(protocol.DataHeader{Transfer: in.Transfer()}, pr)
		pr.CloseWithError(errors.New("Receive returned"))
		s.results <- heldResult{res, err}
	}()
	t.Cleanup(func() { pw.CloseWithError(errors.New("test ended")) })
	// A pipe write returns once Receive has read it, which it does only
	// after creating the .part.
	if _, err := pw.Write(content[:len(content)/2]); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *heldStream) finish(t *testing.T) protocol.Result {
	t.Helper()
	s.pw.Write(s.content[len(s.content)/2:])
	protocol.WriteTrailer(s.pw, protocol.Trailer{Hash: hashOf(s.content)})
	s.pw.Close()
	r := <-s.results
	if r.err != nil {
		t.Fatalf("Receive: %v", r.err)
	}
	return r.res
}

// Transfer ids may be up to 64 characters, and the hub keeps one Receiver
// for every client, checking ids for duplicates per client only: two
// transfers whose ids share a long prefix, or are equal, can arrive in the
// same folder at the same time, and each must keep its own bytes.
func TestReceiveKeepsConcurrentTransfersWithSimilarIDsApart(t *testing.T) {
	prefix := strings.Repeat("a", 32)
	tests := []struct {
		name        string
		id1, id2    string
		finishFirst int // 1 or 2
	}{
		{"shared 32-character prefix, later transfer finishes first", prefix + "1", prefix + "2", 2},
		{"shared 32-character prefix, earlier transfer finishes first", prefix + "1", prefix + "2", 1},
		{"one id from two clients", "0123456789abcdef", "0123456789abcdef", 1},
		{"short distinct ids", "x1", "x2", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, dir := newTestReceiver(t)
			c1, c2 := randomBytes(64<<10, 10), randomBytes(64<<10, 20)
			in1 := prepare(t, r, tt.id1, protocol.File{Path: "f.txt", Size: int64(len(c1))})
			in2 := prepare(t, r, tt.id2, protocol.File{Path: "f.txt", Size: int64(len(c2))})
			s1 := startHeld(t, in1, c1)
			s2 := startHeld(t, in2, c2)
			var res1, res2 protocol.Result
			if tt.finishFirst == 1 {
				res1, res2 = s1.finish(t), s2.finish(t)
			} else {
				res2, res1 = s2.finish(t), s1.finish(t)
			}
			for _, c := range []struct {
				res     protocol.Result
				content []byte
			}{{res1, c1}, {res2, c2}} {
				if c.res.Error != "" {
					t.Errorf("transfer %s failed: %s", c.res.Transfer, c.res.Error)
					continue
				}
				got, err := os.ReadFile(filepath.Join(dir, c.res.Stored))
				if err != nil {
					t.Errorf("transfer %s: %v", c.res.Transfer, err)
					continue
				}
				if !bytes.Equal(got, c.content) {
					t.Errorf("transfer %s was verified and stored as %s, which holds other bytes (hash %s, want %s)", c.res.Transfer, c.res.Stored, hashOf(got), c.res.Hash)
				}
			}
		})
	}
}

// Abandon, as when the sender's connection ends, gives up the files that
// have not started, and lets the one being received finish.
func TestAbandonGivesUpFilesNotStartedAndLetsRunningOnesFinish(t *testing.T) {
	r, dir := newTestReceiver(t)
	held := randomBytes(64<<10, 30)
	in := prepare(t, r, "t1",
		protocol.File{Path: "held", Size: int64(len(held))},
		protocol.File{Path: "done", Size: 1},
		protocol.File{Path: "waiting", Size: 7})
	if res, err := in.Receive(protocol.DataHeader{Transfer: "t1", File: 1}, dataStream(t, []byte("x"), hashOf([]byte("x")))); err != nil || res.Error != "" {
		t.Fatalf("Receive done = %+v, %v", res, err)
	}
	s := startHeld(t, in, held)
	in.Abandon()
	if in.Done() {
		t.Error("Done while a file is still being received")
	}
	if res := s.finish(t); res.Error != "" || res.Stored != "held" {
		t.Errorf("the file being received when its transfer was abandoned: %+v, want it stored", res)
	}
	if st := in.Stats(); !in.Done() || st != (Stats{Stored: 2, Failed: 1, Bytes: int64(len(held)) + 1}) {
		t.Errorf("Done %v, Stats %+v; want done with 2 stored and 1 failed", in.Done(), st)
	}
	_, err := in.Receive(protocol.DataHeader{Transfer: "t1", File: 2}, dataStream(t, []byte("late..."), hashOf([]byte("late..."))))
	if err == nil || !strings.Contains(err.Error(), "given up") {
		t.Errorf("Receive of an abandoned file = %v, want an error saying it was given up", err)
	}
	if got := listTree(t, dir); fmt.Sprint(got) != "[done held]" {
		t.Errorf("target holds %q", got)
	}
	if p := r.Promised(); p != 0 {
		t.Errorf("%d bytes still promised", p)
	}
}
