package transfer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/muxfer/muxfer/internal/datastream"
	"github.com/muxfer/muxfer/protocol"
)

// notJSON as a streamFile's hash makes its trailer a frame that is not JSON.
const notJSON = "{not json"

// streamOf writes files one after another as a data stream carries them:
// each a header, its bytes (content[offset:]) and a trailer with hash.
type streamFile struct {
	idx     int
	offset  int64
	content []byte
	hash    string
}

func streamOf(t *testing.T, id string, files ...streamFile) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	for _, f := range files {
		if err := protocol.WriteHeader(&b, protocol.DataHeader{Transfer: id, File: f.idx, Offset: f.offset}); err != nil {
			t.Fatal(err)
		}
		b.Write(f.content[f.offset:])
		var err error
		if f.hash == notJSON {
			err = protocol.WriteFrame(&b, []byte(notJSON))
		} else {
			err = protocol.WriteTrailer(&b, protocol.Trailer{Hash: f.hash})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return &b
}

// TestAStreamGoesOnAfterAFileThatFailed: a file that fails on the
// receiver's side, before, during or after its bytes, is read to its end,
// and the files after it on the same stream are stored; the stream then
// ends cleanly.
func TestAStreamGoesOnAfterAFileThatFailed(t *testing.T) {
	first, second, third := randomBytes(3*bufSize+11, 3), []byte("second"), []byte("third file")
	tests := []struct {
		name string
		bad  streamFile
	}{
		{"wrong hash, found after the bytes", streamFile{1, 0, second, hashOf(first)}},
		{"an offset the receiver did not offer, refused before the bytes", streamFile{1, 2, second, hashOf(second)}},
		{"a trailer that is not JSON", streamFile{1, 0, second, notJSON}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, dir := newTestReceiver(t)
			in := prepare(t, r, "t",
				protocol.File{Path: "a.bin", Size: int64(len(first)), Mode: 0o644},
				protocol.File{Path: "b.txt", Size: int64(len(second)), Mode: 0o644},
				protocol.File{Path: "c.txt", Size: int64(len(third)), Mode: 0o644})
			fs := datastream.NewReader(streamOf(t, "t",
				streamFile{0, 0, first, hashOf(first)}, tt.bad, streamFile{2, 0, third, hashOf(third)}))
			var errs []string
			for range 3 {
				h, err := fs.Next()
				if err != nil {
					t.Fatalf("Next: %v", err)
				}
				res, err := in.Receive(h, fs)
				if err != nil {
					t.Fatalf("Receive: %v", err)
				}
				errs = append(errs, res.Error)
			}
			if errs[0] != "" || errs[1] == "" || errs[2] != "" {
				t.Fatalf("results' errors %q: want only the second file failed", errs)
			}
			if _, err := fs.Next(); err != io.EOF {
				t.Errorf("after the last file Next = %v, want io.EOF", err)
			}
			for name, want := range map[string][]byte{"a.bin": first, "c.txt": third} {
				if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes, %v; want %d bytes", name, len(got), err, len(want))
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "b.txt")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the failed file was stored: %v", err)
			}
		})
	}
}

// TestAStreamEndsWhenItCannotGoOn: a stream cut in the middle of a file,
// or whose trailer frame is over the limit (so where the next header
// starts is unknown), fails that file and goes no further.
func TestAStreamEndsWhenItCannotGoOn(t *testing.T) {
	content := []byte("some bytes")
	huge := make([]byte, 4)
	binary.BigEndian.PutUint32(huge, protocol.MaxHeaderFrame+1)
	tests := []struct {
		name   string
		stream func(t *testing.T) []byte
	}{
		{"cut mid-file", func(t *testing.T) []byte {
			return streamOf(t, "t", streamFile{0, 0, content, hashOf(content)}).Bytes()[:40]
		}},
		{"a trailer over the limit", func(t *testing.T) []byte {
			var b bytes.Buffer
			protocol.WriteHeader(&b, protocol.DataHeader{Transfer: "t", File: 0})
			b.Write(content)
			b.Write(huge)
			b.Write(streamOf(t, "t", streamFile{1, 0, content, hashOf(content)}).Bytes())
			return b.Bytes()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newTestReceiver(t)
			in := prepare(t, r, "t",
				protocol.File{Path: "a", Size: int64(len(content)), Mode: 0o644},
				protocol.File{Path: "b", Size: int64(len(content)), Mode: 0o644})
			fs := datastream.NewReader(bytes.NewReader(tt.stream(t)))
			h, err := fs.Next()
			if err != nil {
				t.Fatal(err)
			}
			res, err := in.Receive(h, fs)
			if err != nil || res.Error == "" {
				t.Fatalf("Receive = %+v, %v; want a failed result", res, err)
			}
			if fs.Broken() == nil {
				t.Fatal("the stream is not marked broken")
			}
			if _, err := fs.Next(); err == nil {
				t.Error("Next read another file from a broken stream")
			}
		})
	}
}

// TestSendCarriesManyFilesOnOneStream: with one stream at a time, every
// file of a folder travels on the same data stream, and each is stored.
func TestSendCarriesManyFilesOnOneStream(t *testing.T) {
	src := t.TempDir()
	tree := map[string]string{}
	for _, name := range []string{"a", "b", "c", "d/e", "d/f", "g"} {
		tree["dir/"+name] = "content of " + name
	}
	writeTree(t, src, tree)
	tc, h := startPair(t, hubOptions{})
	c := &countingConn{testConn: tc}
	rep, err := send(t, c, scan(t, filepath.Join(src, "dir")), SendOptions{Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Files {
		if !f.OK() {
			t.Errorf("%s: %+v", f.Path, f)
		}
	}
	if n := c.opened.Load(); n != 1 {
		t.Errorf("Send opened %d data streams for %d files, want 1", n, len(tree))
	}
	if s := h.waitFinished(t); s.Stored != len(tree) {
		t.Errorf("receiver stored %d files, want %d", s.Stored, len(tree))
	}
}
