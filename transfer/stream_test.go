package transfer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/muxfer/muxfer/internal/datastream"
	"github.com/muxfer/muxfer/protocol"
)

// chunked is a file of unknown size on the wire, after its header: each
// part as one chunk, the chunk of length 0, and a trailer with hash.
func chunked(t testing.TB, hash string, parts ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := protocol.NewChunkWriter(&b)
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := protocol.WriteTrailer(&b, protocol.Trailer{Hash: hash}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withShrinkingDisk makes r see free bytes that fall to after once it has
// asked calls times: a disk that fills up while a stream arrives.
func withShrinkingDisk(r *Receiver, calls int, free, after int64) {
	n := 0
	r.statfs = func() (diskSpace, error) {
		n++
		if n > calls {
			return diskSpace{free: after}, nil
		}
		return diskSpace{free: free}, nil
	}
}

func TestReceiveFileOfUnknownSize(t *testing.T) {
	big := randomBytes(streamGrant+1<<20, 7)
	next := []byte("next")
	tests := []struct {
		name   string
		limits Limits
		disk   func(r *Receiver)
		body   []byte // after the header of file 0, which has an unknown size
		want   []byte // stored as file 0; nil: it fails
		err    string // in file 0's error
		broken bool   // the stream cannot go on to file 1
	}{
		{name: "chunks that end cleanly", body: chunked(t, hashOf([]byte("hello world")), []byte("hello "), []byte("world")), want: []byte("hello world")},
		{name: "no chunk at all", body: chunked(t, hashOf(nil)), want: []byte{}},
		{name: "cut in the middle of a chunk", body: append(binary.BigEndian.AppendUint32(nil, 10), "abc"...),
			err: "stream ended after 3 bytes, before the end of the file: unexpected EOF", broken: true},
		{name: "cut before the last chunk", body: append(binary.BigEndian.AppendUint32(nil, 3), "abc"...),
			err: "stream ended after 3 bytes, before the end of the file: unexpected EOF", broken: true},
		{name: "chunk over the bound", body: append(binary.BigEndian.AppendUint32(nil, protocol.MaxChunk+1), make([]byte, 64)...),
			err: "chunk over the limit of 1 MiB: 1048577 bytes", broken: true},
		{name: "hash mismatch", body: chunked(t, hashOf([]byte("other")), []byte("hello")), err: "hash mismatch: sender "},
		{name: "over MaxBytes with the offer's other file", limits: Limits{MaxBytes: 8}, body: chunked(t, hashOf([]byte("hello")), []byte("hello")),
			err: "file of unknown size passed 4 B, all that the offer's limit of 8 B leaves it", broken: true},
		{name: "exactly at MaxBytes", limits: Limits{MaxBytes: 9}, body: chunked(t, hashOf([]byte("hello")), []byte("hello")), want: []byte("hello")},
		{name: "over the reserve as the disk fills", disk: func(r *Receiver) { withShrinkingDisk(r, 2, 1<<40, defaultReserve+1<<20) },
			body: chunked(t, hashOf(big), big), err: "no room after 16.0 MiB: the file, of unknown size, needs 16.0 MiB but only", broken: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, dir := newTestReceiver(t)
			r.Limits = tt.limits
			withFreeSpace(r, math.MaxInt64)
			if tt.disk != nil {
				tt.disk(r)
			}
			in := prepare(t, r, "t",
				protocol.File{Path: "in.tar", Size: protocol.UnknownSize, Mode: 0o644},
				protocol.File{Path: "next", Size: int64(len(next)), Mode: 0o644})
			var wire bytes.Buffer
			protocol.WriteHeader(&wire, protocol.DataHeader{Transfer: "t", File: 0})
			wire.Write(tt.body)
			if !tt.broken { // the stream would end after a broken file
				protocol.WriteHeader(&wire, protocol.DataHeader{Transfer: "t", File: 1})
				wire.Write(dataStream(t, next, hashOf(next)).(*bytes.Buffer).Bytes())
			}
			fs := datastream.NewReader(&wire)

			h, err := fs.Next()
			if err != nil {
				t.Fatal(err)
			}
			res, err := in.Receive(h, fs)
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			if tt.want != nil {
				if res.Error != "" {
					t.Fatalf("file 0 failed: %s", res.Error)
				}
				got, err := os.ReadFile(filepath.Join(dir, res.Stored))
				if err != nil || !bytes.Equal(got, tt.want) || res.Hash != hashOf(tt.want) {
					t.Fatalf("stored %d bytes (%v), hash %s; want %d bytes, hash %s", len(got), err, res.Hash, len(tt.want), hashOf(tt.want))
				}
			} else if !strings.Contains(res.Error, tt.err) {
				t.Fatalf("file 0 error = %q, want it to contain %q", res.Error, tt.err)
			}

			h, err = fs.Next()
			if tt.broken {
				if err == nil {
					t.Fatalf("the stream went on after a broken file, to %+v", h)
				}
				return
			}
			if err != nil {
				t.Fatalf("the stream did not go on to file 1: %v", err)
			}
			if res, _ := in.Receive(h, fs); res.Error != "" {
				t.Fatalf("file 1 failed: %s", res.Error)
			}
			if !in.Done() || r.Promised() != 0 {
				t.Errorf("done %v, %d bytes still promised", in.Done(), r.Promised())
			}
			want := []string{"next"}
			if tt.want != nil {
				want = []string{"in.tar", "next"}
				if s := in.Stats(); s.Bytes != int64(len(tt.want)+len(next)) {
					t.Errorf("stats count %d bytes, want %d", s.Bytes, len(tt.want)+len(next))
				}
			}
			if got := listTree(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("left %q, want %q", got, want)
			}
		})
	}
}

func TestCheckOfferRefusesResumingFileOfUnknownSize(t *testing.T) {
	tok := strings.Repeat("a", protocol.ResumeTokenLen)
	for _, f := range []protocol.File{
		{Path: "a", Size: protocol.UnknownSize, Resume: tok},
		{Path: "a", Size: -2},
		{Path: "a", Size: protocol.UnknownSize, Dir: true},
	} {
		if err := CheckOffer(protocol.Offer{Transfer: "t", Files: []protocol.File{f}}); err == nil {
			t.Errorf("CheckOffer accepted %+v", f)
		}
	}
}

func TestSendFromReaderStreamsItChunked(t *testing.T) {
	c, hub := startPair(t, hubOptions{})
	content := randomBytes(5*bufSize+17, 3) // several reads, and a short last one
	m := FromReader("in.tar", "standard input", io.MultiReader(bytes.NewReader(content)), 0o644, 0)
	rep, err := send(t, c, m, SendOptions{})
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("Send: %v, report %+v", err, rep.Files)
	}
	if rep.Bytes != int64(len(content)) || rep.Files[0].Size != int64(len(content)) {
		t.Errorf("report counts %d bytes (file %d), want %d", rep.Bytes, rep.Files[0].Size, len(content))
	}
	got, err := os.ReadFile(filepath.Join(hub.dir, "in.tar"))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("stored %d bytes (%v), want %d", len(got), err, len(content))
	}
}

func TestSendFromReaderCutMidFileSaysItCannotBeReadAgain(t *testing.T) {
	c, hub := startPair(t, hubOptions{cutAfter: 2 * bufSize})
	m := FromReader("in.tar", "standard input", bytes.NewReader(randomBytes(64*bufSize, 4)), 0o644, 0)
	rep, err := send(t, c, m, SendOptions{})
	if !errors.Is(err, ErrConnectionLost) || !errors.Is(err, ErrNotRereadable) {
		t.Fatalf("Send error = %v, want a lost connection and %v", err, ErrNotRereadable)
	}
	if len(rep.Files) != 1 || rep.Files[0].Status != Failed || !strings.Contains(rep.Files[0].Err, "standard input cannot be read again: send it again from the start") {
		t.Fatalf("report %+v: want the file failed, not to be sent again", rep.Files)
	}
	hub.stop()
	if got := listTree(t, hub.dir); len(got) != 0 {
		t.Errorf("the receiver kept %q of a cut file", got)
	}
}

// TestSendFromReaderStopsReadingWhenTheReceiverFailsTheFile: a reader
// that never ends is read no further once the receiver has failed its
// file (here over MaxBytes), and Send reports why.
func TestSendFromReaderStopsReadingWhenTheReceiverFailsTheFile(t *testing.T) {
	r, _ := newTestReceiver(t)
	r.Limits.MaxBytes = 3 * bufSize
	c, _ := startPair(t, hubOptions{recv: r})
	rep, err := send(t, c, FromReader("in.tar", "standard input", endless{}, 0o644, 0), SendOptions{})
	if err != nil || len(rep.Files) != 1 || rep.Files[0].Status != Failed || !strings.Contains(rep.Files[0].Err, "all that the offer's limit of") {
		t.Fatalf("Send: %v, report %+v; want the file failed over MaxBytes", err, rep.Files)
	}
}

// endless is a reader that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }

// TestSendReportsItsOwnReadErrorNotTheCutStream: a reader that fails
// mid-file makes the sender close the file's stream, and the receiver
// then fails the file for ending early. The report names the sender's own
// error, the cause, even when the receiver's answer comes first (here
// the sender's outcome waits until the receiver has answered).
func TestSendReportsItsOwnReadErrorNotTheCutStream(t *testing.T) {
	c, hub := startPair(t, hubOptions{})
	failing := io.MultiReader(bytes.NewReader(randomBytes(bufSize/2, 5)), iotest.ErrReader(errors.New("disk on fire")))
	answered := make(chan protocol.Result, 1)
	opt := SendOptions{Observer: Observer{Resumed: func(string, int64) {
		select {
		case r := <-hub.results:
			answered <- r
		case <-time.After(eventTimeout):
			close(answered)
		}
	}}}
	rep, err := send(t, c, FromReader("in.tar", "standard input", failing, 0o644, 0), opt)
	if r, ok := <-answered; !ok || r.Error == "" {
		t.Fatalf("the receiver's answer: %+v, %v; want a failure", r, ok)
	}
	if err != nil || len(rep.Files) != 1 || rep.Files[0].Status != Failed || !strings.Contains(rep.Files[0].Err, "reading standard input: disk on fire") {
		t.Fatalf("Send: %v, report %+v; want the file failed by its reader", err, rep.Files)
	}
}
