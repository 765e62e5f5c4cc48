package transfer

import (
	"fmt"
	"io"
	"math"

	"github.com/muxfer/muxfer/internal/datastream"
	"github.com/muxfer/muxfer/protocol"
)

// A file of unknown size (protocol.UnknownSize: standard input, a pipe)
// comes chunked and ends with a chunk of length 0. Nothing can be
// promised for its bytes when the offer comes, so its room is promised
// as they arrive, streamGrant at a time, against the free space of the
// moment and the reserve; and the offer's MaxBytes is checked against
// the bytes as they are written. Either failing fails the file, with the
// reason, and ends its stream (see datastream.Reader.SkipChunks).

// streamGrant is how much room a file of unknown size asks for at a
// time: a statfs call per streamGrant bytes, and a file may fail up to
// that much before the reserve would actually be reached.
const streamGrant = 16 << 20

// fileBody is the bytes of one file on its data stream: exactly the rest
// of a file of known size, or the chunks of one of unknown size.
type fileBody struct {
	src    io.Reader
	size   int64                 // a file of known size
	chunks *protocol.ChunkReader // nil for a file of known size
	limit  int64                 // bytes the file of unknown size may have, by Limits.MaxBytes
	max    int64                 // Limits.MaxBytes, for the error
	n      int64                 // bytes of the file of unknown size written
}

// body returns the bytes of file f on src. For a file of unknown size it
// makes owed ask for room as bytes come.
func (in *Incoming) body(f protocol.File, src io.Reader, owed *debt) *fileBody {
	if f.Size != protocol.UnknownSize {
		return &fileBody{src: src, size: f.Size}
	}
	owed.open = true
	b := &fileBody{src: src, limit: math.MaxInt64}
	if fs, ok := src.(*datastream.Reader); ok {
		b.chunks = fs.Chunks()
	} else {
		b.chunks = protocol.NewChunkReader(src)
	}
	if b.max = in.r.Limits.MaxBytes; b.max > 0 {
		b.limit = b.max - offerBytes(in.offer) // the offer's other files count too
	}
	return b
}

// copy writes the body from offset on to dst.
func (b *fileBody) copy(dst io.Writer, offset int64) error {
	if b.chunks == nil {
		return copyExactly(dst, b.src, b.size-offset)
	}
	buf := getBuf()
	defer putBuf(buf)
	for {
		k, err := b.chunks.Read(*buf)
		if k > 0 {
			if int64(k) > b.limit-b.n {
				return fmt.Errorf("file of unknown size passed %s, all that the offer's limit of %s leaves it", formatBytes(b.limit), formatBytes(b.max))
			}
			if _, werr := dst.Write((*buf)[:k]); werr != nil {
				return pathErr(werr)
			}
			b.n += int64(k)
		}
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return fmt.Errorf("stream ended after %d bytes, before the end of the file: %w", b.n, err)
		}
	}
}

// grow asks for more room for a file of unknown size before n more
// bytes of it are written, if what it holds is not enough.
func (d *debt) grow(n int) error {
	if !d.open || d.need.bytes >= int64(n) {
		return nil
	}
	d.need.bytes += max(streamGrant, int64(n))
	if err := d.promise("the file, of unknown size,"); err != nil {
		return fmt.Errorf("no room after %s: %w", formatBytes(d.wrote), err)
	}
	return nil
}
