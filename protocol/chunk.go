package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A file offered with Size UnknownSize (a pipe, whose end nobody knows in
// advance) is sent chunked: after its header, chunks of a 4-byte
// big-endian length n and n bytes, 1 ≤ n ≤ MaxChunk, then a chunk of
// length 0 that ends the file, then the usual trailer. "hello" as one
// chunk:
//
//	00 00 00 05  68 65 6c 6c 6f   chunk of 5 bytes
//	00 00 00 00                   end of the file
//	frame {"hash":"xxh3-128:b5e9…"}

// UnknownSize is the File.Size of a regular file whose size the sender
// does not know: its bytes come chunked, it is never resumed.
const UnknownSize int64 = -1

// MaxChunk bounds the length of one chunk of a file of unknown size.
const MaxChunk = 1 << 20

// ErrChunkTooLarge is a chunk length over MaxChunk. The stream is out of
// step after it: nothing more of it can be read.
var ErrChunkTooLarge = errors.New("chunk over the limit of 1 MiB")

// ChunkReader reads the bytes of one chunked file from a data stream.
// Read returns io.EOF after the chunk of length 0, and
// io.ErrUnexpectedEOF if the stream ends before it. It reads nothing past
// that last chunk, so the trailer can be read from the stream next, and
// it allocates nothing: a chunk's bytes go straight into Read's buffer.
type ChunkReader struct {
	r    io.Reader
	left int64 // bytes of the current chunk still to read
	n    int64 // file bytes read so far
	err  error // sticky: io.EOF after the last chunk, or why the stream broke
}

// NewChunkReader reads a chunked file from r, which is positioned after
// the file's header.
func NewChunkReader(r io.Reader) *ChunkReader { return &ChunkReader{r: r} }

// N is the number of file bytes read so far.
func (c *ChunkReader) N() int64 { return c.n }

// Done reports whether the chunk of length 0 was read.
func (c *ChunkReader) Done() bool { return c.err == io.EOF }

func (c *ChunkReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.left == 0 {
		var b [4]byte
		if _, err := io.ReadFull(c.r, b[:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the end chunk is missing
			}
			c.err = err
			return 0, err
		}
		switch n := binary.BigEndian.Uint32(b[:]); {
		case n == 0:
			c.err = io.EOF
			return 0, io.EOF
		case n > MaxChunk:
			c.err = fmt.Errorf("%w: %d bytes", ErrChunkTooLarge, n)
			return 0, c.err
		default:
			c.left = int64(n)
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	k, err := c.r.Read(p[:min(int64(len(p)), c.left)])
	c.left -= int64(k)
	c.n += int64(k)
	if err == io.EOF && c.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == io.EOF {
		err = nil // the next Read reads the next length
	}
	if err != nil {
		c.err = err
	}
	return k, err
}

// ChunkWriter writes a chunked file: each Write as chunks of at most
// MaxChunk bytes, Close the chunk of length 0. Close does not close the
// writer underneath.
type ChunkWriter struct {
	w   io.Writer
	buf []byte // length header and bytes of one chunk, written at once
}

// NewChunkWriter writes a chunked file to w, after the file's header.
func NewChunkWriter(w io.Writer) *ChunkWriter { return &ChunkWriter{w: w} }

func (c *ChunkWriter) Write(p []byte) (int, error) {
	done := 0
	for len(p) > 0 {
		n := min(len(p), MaxChunk)
		c.buf = binary.BigEndian.AppendUint32(c.buf[:0], uint32(n))
		c.buf = append(c.buf, p[:n]...)
		if _, err := c.w.Write(c.buf); err != nil {
			return done, err
		}
		done, p = done+n, p[n:]
	}
	return done, nil
}

// Close ends the file with the chunk of length 0.
func (c *ChunkWriter) Close() error {
	_, err := c.w.Write([]byte{0, 0, 0, 0})
	return err
}
