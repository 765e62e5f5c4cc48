package transfer

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/protocol"
)

// smallReaders are the two ways of reading a small file: on Linux
// readSmall makes plain system calls, elsewhere it is readSmallFile.
var smallReaders = []struct {
	name string
	read func(string, protocol.File, []byte) error
}{{"readSmall", readSmall}, {"readSmallFile", readSmallFile}}

// offered is the File that Scan would offer for the file at name.
func offered(t *testing.T, name string) protocol.File {
	t.Helper()
	info, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return protocol.File{Path: filepath.Base(name), Size: info.Size(), MTime: info.ModTime().UnixNano()}
}

func TestReadSmallReadsTheWholeFile(t *testing.T) {
	for _, r := range smallReaders {
		for _, size := range []int{0, 1, 4 << 10, smallFile} {
			name := filepath.Join(t.TempDir(), "f")
			want := randomBytes(size, uint64(size))
			if err := os.WriteFile(name, want, 0o644); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, size)
			if err := r.read(name, offered(t, name), got); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s of %d bytes: err %v, same bytes %v", r.name, size, err, bytes.Equal(got, want))
			}
		}
	}
}

func TestReadSmallRefusesFileNotAsOffered(t *testing.T) {
	tests := []struct {
		name   string
		change func(*protocol.File)
		want   string
	}{
		{"grew since the offer", func(f *protocol.File) { f.Size-- }, "changed while being sent"},
		{"shrank since the offer", func(f *protocol.File) { f.Size++ }, "changed while being sent"},
		{"modified since the offer", func(f *protocol.File) { f.MTime -= int64(time.Second) }, "changed while being sent"},
	}
	for _, r := range smallReaders {
		for _, tt := range tests {
			name := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(name, []byte("four"), 0o644); err != nil {
				t.Fatal(err)
			}
			f := offered(t, name)
			tt.change(&f)
			err := r.read(name, f, make([]byte, f.Size))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s, file %s: err %v, want one saying %q", r.name, tt.name, err, tt.want)
			}
		}
	}
}

func TestReadSmallReportsMissingFile(t *testing.T) {
	for _, r := range smallReaders {
		err := r.read(filepath.Join(t.TempDir(), "gone"), protocol.File{Size: 1}, make([]byte, 1))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: err %v, want fs.ErrNotExist", r.name, err)
		}
	}
}

// TestSendResumesSmallFileFromTheReceiversPart: a small file, read whole
// and sent in one write, still starts after the receiver's part when the
// part's bytes are the file's, and from byte 0 when they are not.
func TestSendResumesSmallFileFromTheReceiversPart(t *testing.T) {
	content := randomBytes(40<<10, 5)
	tests := []struct {
		name        string
		part        []byte
		wantResumed int64
	}{
		{"part agrees", content[:10000], 10000},
		{"part differs", randomBytes(10000, 6), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := t.TempDir()
			writeTree(t, src, map[string]string{"dir/small.bin": string(content)})
			m := scan(t, filepath.Join(src, "dir"))
			key := []byte("resume key")
			c, h := startPair(t, hubOptions{})
			var tok string
			for _, f := range m.withTokens(key).Files {
				if !f.Dir {
					tok = f.Resume
				}
			}
			if err := os.MkdirAll(filepath.Join(h.dir, "dir"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(h.dir, "dir", keyPartName(partKey(tok))), tt.part, 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := send(t, c, m, SendOptions{ResumeKey: key})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if r := rep.Files[0]; !r.OK() || r.Resumed != tt.wantResumed {
				t.Fatalf("report %+v, want it delivered after resuming from %d", r, tt.wantResumed)
			}
			var trailer bytes.Buffer
			protocol.WriteTrailer(&trailer, protocol.Trailer{Hash: rep.Files[0].Hash})
			if got, want := h.received.Load(), int64(len(content))-tt.wantResumed+int64(trailer.Len()); got != want {
				t.Errorf("the receiver read %d bytes, want %d", got, want)
			}
			h.stop()
			checkDelivered(t, m, rep, h.dir)
		})
	}
}
