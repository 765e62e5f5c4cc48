package protocol

import (
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"
)

// DataHeader opens every data stream. It is sent as one frame, then the
// file's bytes follow raw, from Offset to the size given in the Offer, then
// a Trailer frame. Offset is 0, or the offset of the receiver's Have for
// the file when the sender resumes it:
//
//	frame {"transfer":"5f0c…","file":2,"offset":0}
//	<size-offset bytes>
//	frame {"hash":"xxh3-128:9c1e…"}
type DataHeader struct {
	Transfer string `json:"transfer"`
	File     int    `json:"file"`
	Offset   int64  `json:"offset"`
}

// Trailer closes a data stream with the sender's hash of the whole file,
// from byte 0 also when the stream started at an offset: "xxh3-128:" and
// the XXH3-128 digest in 32 lower-case hex digits, high half first.
type Trailer struct {
	Hash string `json:"hash"`
}

// WriteHeader writes h as one frame, in the canonical form (canonical.go)
// when it can.
func WriteHeader(w io.Writer, h DataHeader) error {
	if b, ok := appendHeader(make([]byte, 0, 96), h); ok {
		return WriteFrame(w, b)
	}
	return writeJSONFrame(w, h)
}

// ReadHeader reads a DataHeader frame of at most MaxHeaderFrame bytes.
func ReadHeader(r io.Reader) (DataHeader, error) {
	var h DataHeader
	b, err := ReadFrame(r, MaxHeaderFrame)
	if err == nil {
		var ok bool
		if h, ok = parseHeader(b); !ok {
			err = unmarshalFrame(b, &h)
		}
	}
	if err == nil && (h.File < 0 || h.Offset < 0) {
		err = fmt.Errorf("data header: negative file or offset")
	}
	return h, err
}

// WriteTrailer writes t as one frame, in the canonical form when it can.
func WriteTrailer(w io.Writer, t Trailer) error {
	if b, ok := appendTrailer(make([]byte, 0, 64), t); ok {
		return WriteFrame(w, b)
	}
	return writeJSONFrame(w, t)
}

// ReadTrailer reads a Trailer frame of at most MaxHeaderFrame bytes.
func ReadTrailer(r io.Reader) (Trailer, error) {
	b, err := ReadFrame(r, MaxHeaderFrame)
	if err != nil {
		return Trailer{}, err
	}
	t, ok := parseTrailer(b)
	if !ok {
		err = unmarshalFrame(b, &t)
	}
	return t, err
}

func writeJSONFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return WriteFrame(w, b)
}

// unmarshalFrame decodes a frame's payload that is not in the canonical
// form.
func unmarshalFrame(b []byte, v any) error {
	if !utf8.Valid(b) {
		return ErrInvalidUTF8
	}
	return json.Unmarshal(b, v)
}
