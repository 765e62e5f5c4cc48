package transfer

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkyReader returns at most max bytes a Read, some Reads none at all,
// and counts what it returned.
type chunkyReader struct {
	r    io.Reader
	rng  *rand.Rand
	max  int
	read int64
}

func (c *chunkyReader) Read(p []byte) (int, error) {
	if c.rng.IntN(8) == 0 {
		return 0, nil
	}
	n, err := c.r.Read(p[:min(len(p), 1+c.rng.IntN(c.max))])
	c.read += int64(n)
	return n, err
}

// failingWriter takes ok bytes, then fails every write after taking part
// of it.
type failingWriter struct {
	bytes.Buffer
	ok int
}

var errDiskFull = errors.New("no space left on device")

func (w *failingWriter) Write(p []byte) (int, error) {
	if left := w.ok - w.Len(); len(p) > left {
		w.Buffer.Write(p[:max(left, 0)])
		return max(left, 0), errDiskFull
	}
	return w.Buffer.Write(p)
}

func TestCopyBehind(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 3*writeBehindBufs*bufSize+12345)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, tt := range []struct {
		name  string
		n     int64 // bytes asked for
		have  int   // bytes the stream holds
		chunk int   // the most a Read returns
		ok    int   // bytes the writer takes before failing; 0: all
		err   string
		wrote int64 // bytes written, when it fails
	}{
		{name: "small, inline", n: 1000, have: 1000, chunk: 300},
		{name: "exactly the inline limit", n: writeBehindBufs * bufSize, have: writeBehindBufs * bufSize, chunk: bufSize},
		{name: "one byte more", n: writeBehindBufs*bufSize + 1, have: writeBehindBufs*bufSize + 1, chunk: bufSize},
		{name: "large, whole buffers", n: int64(len(data)), have: len(data), chunk: 2 * bufSize},
		{name: "large, small reads", n: int64(len(data)), have: len(data), chunk: 7000},
		{name: "the stream holds more than the file", n: 5 * bufSize, have: len(data), chunk: bufSize},
		{name: "the stream ends early", n: int64(len(data)), have: 5*bufSize + 17, chunk: bufSize,
			err: "stream ended after 1310737 of ", wrote: 5*bufSize + 17},
		{name: "a write fails", n: int64(len(data)), have: len(data), chunk: bufSize, ok: 2*bufSize + 5,
			err: "no space left on device", wrote: 2*bufSize + 5},
		{name: "a write fails inline", n: 1000, have: 1000, chunk: 100, ok: 250,
			err: "no space left on device", wrote: 250},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := &chunkyReader{r: bytes.NewReader(data[:tt.have]), rng: rand.New(rand.NewPCG(3, uint64(tt.chunk))), max: tt.chunk}
			dst := &failingWriter{ok: tt.ok}
			if tt.ok == 0 {
				dst.ok = len(data)
			}
			err := copyBehind(dst, src, tt.n)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("copyBehind: %v", err)
				}
				if !bytes.Equal(dst.Bytes(), data[:tt.n]) {
					t.Fatalf("wrote %d bytes that differ from the %d read", dst.Len(), tt.n)
				}
				if src.read != tt.n {
					t.Errorf("read %d bytes of the stream, want exactly %d", src.read, tt.n)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("copyBehind: %v, want an error with %q", err, tt.err)
			}
			if int64(dst.Len()) != tt.wrote || !bytes.Equal(dst.Bytes(), data[:dst.Len()]) {
				t.Errorf("wrote %d bytes, want the stream's first %d", dst.Len(), tt.wrote)
			}
			// After a failed write it stops reading: it may have filled
			// each of its buffers once more, no more.
			if tt.ok != 0 && src.read > int64(tt.ok)+int64(writeBehindBufs+1)*bufSize {
				t.Errorf("read %d bytes after the write failed at %d", src.read, tt.ok)
			}
		})
	}
}

// A read's error is kept as it came, after the bytes before it are written.
func TestCopyBehindKeepsTheReadError(t *testing.T) {
	broken := errors.New("connection reset by peer")
	data := bytes.Repeat([]byte("x"), 6*bufSize)
	src := io.MultiReader(bytes.NewReader(data), iotest.ErrReader(broken))
	var dst bytes.Buffer
	err := copyBehind(&dst, src, 10*bufSize)
	if !errors.Is(err, broken) {
		t.Fatalf("copyBehind: %v, want %v", err, broken)
	}
	if dst.Len() != len(data) {
		t.Errorf("wrote %d bytes, want the %d read before the error", dst.Len(), len(data))
	}
}
