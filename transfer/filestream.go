package transfer

import (
	"errors"
	"fmt"
	"io"

	"github.com/muxfer/muxfer/protocol"
)

// A data stream carries one file after another: a header, the file's
// bytes, its trailer, then the next header or the end of the stream. A
// file that fails on the receiving side (no room, a wrong hash, a file
// taken over by a newer transfer) does not end the stream: the receiver
// reads past the rest of its bytes and its trailer, which it can count
// from the header, and goes on with the next file, so that the sender's
// later files on the stream are not lost with it. Only a stream that can
// no longer be read (cut, aborted, or out of step after a malformed
// trailer) ends early.

// FileStream reads the files of one data stream.
type FileStream struct {
	r    io.Reader
	read int64 // bytes read since the current file's header
	err  error // why the stream can go no further

	chunks  *protocol.ChunkReader // the current file's chunks, if it has an unknown size and they were read
	trailed bool                  // the current file's trailer was read
}

// NewFileStream reads files from r, a data stream.
func NewFileStream(r io.Reader) *FileStream { return &FileStream{r: r} }

// Next reads the header of the next file. It returns io.EOF when the
// stream ends cleanly after a file (or before any).
func (s *FileStream) Next() (protocol.DataHeader, error) {
	if s.err != nil {
		return protocol.DataHeader{}, s.err
	}
	h, err := protocol.ReadHeader(s)
	s.read, s.chunks, s.trailed = 0, nil, false
	return h, err
}

// Read reads the current file's bytes and trailer. The first error it
// meets, io.EOF included, ends the stream.
func (s *FileStream) Read(p []byte) (int, error) {
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

// Abort aborts the stream underneath, if it can be.
func (s *FileStream) Abort() {
	if a, ok := s.r.(interface{ Abort() }); ok {
		a.Abort()
	}
}

// Broken reports whether the stream can go no further, and why.
func (s *FileStream) Broken() error { return s.err }

// Drain reads and drops the rest of a stream that can go no further,
// until the sender closes it.
func (s *FileStream) Drain() { io.Copy(io.Discard, s.r) }

// fail ends the stream with err.
func (s *FileStream) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// skip reads past what is left of a file of n bytes after its header, and
// its trailer, unless the trailer was read already.
func (s *FileStream) skip(n int64) {
	if s.err != nil {
		return
	}
	if s.read <= n {
		if _, err := io.CopyN(io.Discard, s, n-s.read); err != nil {
			return // recorded by Read
		}
		if _, err := readTrailer(s); errors.Is(err, protocol.ErrFrameTooLarge) {
			s.fail(err)
		}
	}
}

// readTrailer reads a file's trailer from src. A trailer frame over the
// limit leaves the stream out of step, so a FileStream ends there.
func readTrailer(src io.Reader) (protocol.Trailer, error) {
	tr, err := protocol.ReadTrailer(src)
	fs, isFS := src.(*FileStream)
	if isFS {
		fs.trailed = true
	}
	if err != nil {
		if isFS && errors.Is(err, protocol.ErrFrameTooLarge) {
			fs.fail(err)
		}
		return tr, fmt.Errorf("sender did not finish the file: %w", err)
	}
	return tr, nil
}
