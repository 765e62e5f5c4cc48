package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func TestChunkReaderEndsOnlyAtTheEmptyChunk(t *testing.T) {
	chunk := func(s string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...) }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	tests := []struct {
		name string
		wire []byte
		want string
		err  error // nil: io.EOF after want
	}{
		{"two chunks and the end", cat(chunk("hel"), chunk("lo"), chunk("")), "hello", nil},
		{"only the end", chunk(""), "", nil},
		{"a chunk of exactly MaxChunk", cat(binary.BigEndian.AppendUint32(nil, MaxChunk), make([]byte, MaxChunk), chunk("")), string(make([]byte, MaxChunk)), nil},
		{"nothing at all", nil, "", io.ErrUnexpectedEOF},
		{"cut in a length", []byte{0, 0}, "", io.ErrUnexpectedEOF},
		{"cut in a chunk", chunk("hello")[:6], "he", io.ErrUnexpectedEOF},
		{"no end chunk", chunk("hello"), "hello", io.ErrUnexpectedEOF},
		{"a chunk over MaxChunk", binary.BigEndian.AppendUint32(nil, MaxChunk+1), "", ErrChunkTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewChunkReader(bytes.NewReader(tt.wire))
			got, err := io.ReadAll(c)
			if string(got) != tt.want || c.N() != int64(len(tt.want)) {
				t.Errorf("read %d bytes (N %d), want %d", len(got), c.N(), len(tt.want))
			}
			if !errors.Is(err, tt.err) || (tt.err == nil) != c.Done() {
				t.Errorf("error %v, done %v; want %v", err, c.Done(), tt.err)
			}
		})
	}
}

// FuzzChunkReader decodes any bytes without reading more than asked, past
// its end chunk, or into a chunk over the bound; and decodes what
// ChunkWriter wrote, whatever the writes, to the same bytes.
func FuzzChunkReader(f *testing.F) {
	var w bytes.Buffer
	cw := NewChunkWriter(&w)
	cw.Write([]byte("hello"))
	cw.Write([]byte(" world"))
	cw.Close()
	f.Add(w.Bytes(), uint16(3))
	f.Add([]byte{0, 0, 0, 2, 'a'}, uint16(1))
	f.Add([]byte{0, 0x10, 0, 1}, uint16(0))
	f.Add([]byte{}, uint16(7))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		r := bytes.NewReader(data)
		c := NewChunkReader(boundedReader{t: t, r: r, limit: MaxChunk})
		got, err := io.ReadAll(c)
		if len(got) > len(data) || c.N() != int64(len(got)) {
			t.Fatalf("read %d bytes (N %d) from %d", len(got), c.N(), len(data))
		}
		if c.Done() != (err == nil) {
			t.Fatalf("done %v, error %v", c.Done(), err)
		}
		if c.Done() {
			// It stops right after the end chunk: what follows is the trailer's.
			if used := len(data) - r.Len(); used < 4 || !bytes.Equal(data[used-4:used], []byte{0, 0, 0, 0}) {
				t.Fatalf("read %d bytes, not ending with the end chunk", used)
			}
		}

		var wire bytes.Buffer
		cw := NewChunkWriter(&wire)
		step := int(split)%97 + 1
		for rest := data; len(rest) > 0; rest = rest[min(step, len(rest)):] {
			if _, err := cw.Write(rest[:min(step, len(rest))]); err != nil {
				t.Fatal(err)
			}
		}
		cw.Close()
		wire.WriteString("trailer")
		back := NewChunkReader(&wire)
		if again, err := io.ReadAll(back); err != nil || !bytes.Equal(again, data) || wire.String() != "trailer" {
			t.Fatalf("round trip: %v, equal %v, left %q", err, bytes.Equal(again, data), wire.String())
		}
	})
}
