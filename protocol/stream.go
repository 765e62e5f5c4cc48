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
//
// A data stream whose header has To is a channel instead: the client asks
// the hub to join it to a stream of the client called To, and the hub
// opens that stream with a header that has From, FromID and FromIdentity
// (the caller's name, id and identity). See ChannelReply and the protocol
// README, Channels.
type DataHeader struct {
	Transfer string `json:"transfer,omitempty"`
	File     int    `json:"file,omitempty"`
	Offset   int64  `json:"offset,omitempty"`

	To           string `json:"to,omitempty"`
	ToIdentity   string `json:"to_identity,omitempty"`
	From         string `json:"from,omitempty"`
	FromID       uint64 `json:"from_id,omitempty"`
	FromIdentity string `json:"from_identity,omitempty"`
}

// IsChannel reports whether h opens a channel rather than a file.
func (h DataHeader) IsChannel() bool { return h.To != "" || h.From != "" }

// ChannelReply is the hub's first frame on a channel's stream, to the
// client that asked for it: the client it is joined to (To, ToID and
// ToIdentity, its identity or "" for none), or why not (Error, and Code,
// one of the error codes: CodeAway, CodeBusy, CodeIdentity, and
// ToIdentity then the identity the client called has). After a reply
// without Error, the stream carries what the other client writes; after
// one with Error, the hub closes it.
type ChannelReply struct {
	To         string `json:"to,omitempty"`
	ToID       uint64 `json:"to_id,omitempty"`
	ToIdentity string `json:"to_identity,omitempty"`
	Error      string `json:"error,omitempty"`
	Code       string `json:"code,omitempty"`
}

// WriteChannelReply writes r as one frame.
func WriteChannelReply(w io.Writer, r ChannelReply) error { return writeJSONFrame(w, r) }

// ReadChannelReply reads a ChannelReply frame of at most MaxHeaderFrame
// bytes. A reply that names no client and gives no error is refused.
func ReadChannelReply(r io.Reader) (ChannelReply, error) {
	var cr ChannelReply
	b, err := ReadFrame(r, MaxHeaderFrame)
	if err == nil {
		err = unmarshalFrame(b, &cr)
	}
	if err == nil && cr.To == "" && cr.Error == "" {
		err = fmt.Errorf("channel reply: neither a client nor an error")
	}
	return cr, err
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
