// Package protocol defines muxfer's wire format: length-prefixed frames and
// the JSON messages they carry. It is pure: it reads from io.Reader and writes
// to io.Writer and knows nothing of sockets, streams or files.
//
// A frame is a 4-byte big-endian length followed by that many bytes:
//
//	00 00 00 1d  {"type":"chat","text":"hi"}
//
// Every length read from a peer is checked against a caller-given limit
// before any buffer is allocated, so a hostile length costs nothing.
package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Limits on frame payloads. A peer that announces more is refused before
// anything is allocated.
const (
	// MaxControlFrame bounds a message on the control stream.
	MaxControlFrame = 1 << 20
	// MaxHeaderFrame bounds a data stream's header and trailer.
	MaxHeaderFrame = 4 << 10
	// MaxDataStreams is how many data streams a receiver serves at once
	// per session. A sender keeps at most this many open: a receiver
	// accepts (and yamux acknowledges) the next only when one ends.
	MaxDataStreams = 64
)

// ErrFrameTooLarge reports a frame whose announced length exceeds the limit.
var ErrFrameTooLarge = errors.New("frame too large")

// WriteFrame writes payload as one frame with a single Write call, so that a
// frame is never split between two writes of a multiplexed stream.
func WriteFrame(w io.Writer, payload []byte) error {
	buf := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	copy(buf[4:], payload)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame whose payload is at most limit bytes. A clean
// end of input before the first byte of a frame returns io.EOF; an end in the
// middle of a frame returns io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, limit int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, limit)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return payload, nil
}
