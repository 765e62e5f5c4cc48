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

// WriteHeader writes h as one frame.
func WriteHeader(w io.Writer, h DataHeader) error { return writeJSONFrame(w, h) }

// ReadHeader reads a DataHeader frame of at most MaxHeaderFrame bytes.
func ReadHeader(r io.Reader) (DataHeader, error) {
	var h DataHeader
	err := readJSONFrame(r, &h)
	if err == nil && (h.File < 0 || h.Offset < 0) {
		err = fmt.Errorf("data header: negative file or offset")
	}
	return h, err
}

// WriteTrailer writes t as one frame.
func WriteTrailer(w io.Writer, t Trailer) error { return writeJSONFrame(w, t) }

// ReadTrailer reads a Trailer frame of at most MaxHeaderFrame bytes.
func ReadTrailer(r io.Reader) (Trailer, error) {
	var t Trailer
	return t, readJSONFrame(r, &t)
}

func writeJSONFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return WriteFrame(w, b)
}

func readJSONFrame(r io.Reader, v any) error {
	b, err := ReadFrame(r, MaxHeaderFrame)
	if err != nil {
		return err
	}
	if !utf8.Valid(b) {
		return ErrInvalidUTF8
	}
	return json.Unmarshal(b, v)
}
