package transfer

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/muxfer/muxfer/protocol"
)

// LocalStream returns the data stream of a file whose bytes a receiver
// has at hand, as its sender would write it after the header: exactly
// size bytes of r, then the trailer with their hash. Given to
// Incoming.Receive, it stores the file with every check of a received
// one (a .part until it is whole, then its own name, mode and time).
// After the last byte it makes sure r has no more (reading to io.EOF)
// and calls check: if either fails, the trailer does not come, and the
// file fails with that error, its part removed.
func LocalStream(r io.Reader, size int64, check func() error) io.Reader {
	return &localStream{r: io.LimitReader(r, size), rest: r, size: size, h: newHash(), check: check}
}

type localStream struct {
	r       io.Reader // the file's bytes
	rest    io.Reader // the same reader, to see that it ends there
	size, n int64
	h       *fileHash
	check   func() error
	trailer *bytes.Reader // once the bytes are read
}

func (s *localStream) Read(p []byte) (int, error) {
	if s.trailer != nil {
		return s.trailer.Read(p)
	}
	n, err := s.r.Read(p)
	s.h.Write(p[:n])
	s.n += int64(n)
	if err != io.EOF {
		if n == 0 && err == nil {
			return 0, nil
		}
		return n, err
	}
	if n > 0 {
		return n, nil
	}
	var one [1]byte
	switch k, err := io.ReadFull(s.rest, one[:]); {
	case s.n < s.size:
		return 0, fmt.Errorf("the file ends after %d bytes, short of its size, %d", s.n, s.size)
	case k > 0:
		return 0, errors.New("the file is longer than its size")
	case err != io.EOF:
		return 0, fmt.Errorf("the file ends short of its size, or does not open: %w", err)
	}
	if s.check != nil {
		if err := s.check(); err != nil {
			return 0, err
		}
	}
	var b bytes.Buffer
	if err := protocol.WriteTrailer(&b, protocol.Trailer{Hash: formatHash(s.h)}); err != nil {
		return 0, err
	}
	s.trailer = bytes.NewReader(b.Bytes())
	return s.trailer.Read(p)
}
