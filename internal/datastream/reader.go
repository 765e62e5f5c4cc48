// Package datastream reads the files of one data stream, for muxfer's
// receivers (transfer.Incoming, and the hub when it relays).
//
// A data stream carries one file after another: a header, the file's
// bytes, its trailer, then the next header or the end of the stream. A
// file that fails on the receiving side (no room, a wrong hash, a file
// taken over by a newer transfer) does not end the stream: the receiver
// reads past the rest of its bytes and its trailer, which it can count
// from the header, and goes on with the next file, so that the sender's
// later files on the stream are not lost with it. Only a stream that can
// no longer be read (cut, aborted, or out of step after a malformed
// trailer) ends early.
//
// A file of unknown size (protocol.UnknownSize) comes chunked, and its
// end cannot be counted: one that fails before its last chunk ends the
// stream (see Reader.SkipChunks).
package datastream

import (
	"errors"
	"io"

	"github.com/muxfer/muxfer/protocol"
)

// Reader reads the files of one data stream.
type Reader struct {
	r    io.Reader
	read int64 // bytes read since the current file's header
	err  error // why the stream can go no further

	chunks  *protocol.ChunkReader // the current file's chunks, if it has an unknown size and they were read
	trailed bool                  // the current file's trailer was read
}

// NewReader reads files from r, a data stream.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Next reads the header of the next file. It returns io.EOF when the
// stream ends cleanly after a file (or before any).
func (s *Reader) Next() (protocol.DataHeader, error) {
	if s.err != nil {
		return protocol.DataHeader{}, s.err
	}
	h, err := protocol.ReadHeader(s)
	s.read, s.chunks, s.trailed = 0, nil, false
	return h, err
}

// Read reads the current file's bytes and trailer. The first error it
// meets, io.EOF included, ends the stream.
func (s *Reader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	s.read += int64(n)
	if err != nil {
		s.err = err
	}
	return n, err
}

// ReadTrailer reads the current file's trailer. A trailer frame over the
// limit leaves the stream out of step, so the stream ends there.
func (s *Reader) ReadTrailer() (protocol.Trailer, error) {
	tr, err := protocol.ReadTrailer(s)
	s.trailed = true
	if errors.Is(err, protocol.ErrFrameTooLarge) {
		s.Fail(err)
	}
	return tr, err
}

// Abort aborts the stream underneath, if it can be.
func (s *Reader) Abort() {
	if a, ok := s.r.(interface{ Abort() }); ok {
		a.Abort()
	}
}

// Broken reports whether the stream can go no further, and why.
func (s *Reader) Broken() error { return s.err }

// Drain reads and drops the rest of a stream that can go no further,
// until the sender closes it.
func (s *Reader) Drain() { io.Copy(io.Discard, s.r) }

// Fail ends the stream with err, unless it has ended already.
func (s *Reader) Fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// Skip reads past what is left of a file that failed, of n bytes after its
// header, and its trailer, unless the trailer was read already.
func (s *Reader) Skip(n int64) {
	if s.err != nil {
		return
	}
	if s.read <= n {
		if _, err := io.CopyN(io.Discard, s, n-s.read); err != nil {
			return // recorded by Read
		}
		s.ReadTrailer()
	}
}

// Chunks returns the reader of the current file's chunks, for a file of
// unknown size; SkipChunks goes on with it if the file fails.
func (s *Reader) Chunks() *protocol.ChunkReader {
	if s.chunks == nil {
		s.chunks = protocol.NewChunkReader(s)
	}
	return s.chunks
}

// SkipChunks goes past a file of unknown size that failed. Unlike a file
// of known size, its end cannot be counted and may never come, and its
// sender learns of the failure only from the result, which is sent once
// the file's receiver returns: so unless its last chunk was read already,
// the stream ends here, and its owner drains it until the sender, told by
// the result, closes it. After the last chunk, only its trailer is read.
func (s *Reader) SkipChunks() {
	if s.err != nil {
		return
	}
	if s.chunks == nil || !s.chunks.Done() {
		s.Fail(errUnknownSizeFailed)
		return
	}
	if !s.trailed {
		s.ReadTrailer()
	}
}

// errUnknownSizeFailed ends a stream whose file of unknown size failed
// before its end.
var errUnknownSizeFailed = errors.New("a file of unknown size failed before its end, which ends its stream")
