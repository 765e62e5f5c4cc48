package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Version is the protocol version spoken by this package. Peers exchange it
// in Hello and Welcome; a mismatch ends the connection with an Error.
const Version = 1

// Message is one control-stream message. Its JSON form is an object whose
// "type" member names the concrete type:
//
//	{"type":"chat","from":"alice","text":"hello"}
type Message interface {
	// Type returns the value of the "type" member, such as "chat".
	Type() string
}

// Hello is the client's first message.
type Hello struct {
	Version  int    `json:"version"`
	Name     string `json:"name"`
	Software string `json:"software,omitempty"`
}

// Welcome is the hub's answer to an accepted Hello. Name may differ from the
// requested one when that was taken. ChatPerSecond and ChatBurst, when
// set, are the hub's limit on the client's chat, nick and who messages (a
// token bucket), so that a client can pace itself instead of being
// disconnected.
type Welcome struct {
	Version       int    `json:"version"`
	ID            uint64 `json:"id"`
	Name          string `json:"name"`
	Software      string `json:"software,omitempty"`
	ChatPerSecond int    `json:"chat_per_second,omitempty"`
	ChatBurst     int    `json:"chat_burst,omitempty"`
}

// MaxChatLen bounds a chat message's Text, in bytes.
const MaxChatLen = 16 << 10

// Chat is a chat line. A client sends Text, and To to send it to the
// client of that name only (a direct message); the hub fills in From and
// FromID before passing it on, and sets To, on a direct message, to the
// recipient's name.
type Chat struct {
	From   string `json:"from,omitempty"`
	FromID uint64 `json:"from_id,omitempty"`
	To     string `json:"to,omitempty"`
	Text   string `json:"text"`
}

// Nick asks the hub to rename the client (client to hub), and answers
// that request (hub to client): Name is then the client's name after the
// request, the new one or, when Error says why the hub refused, the old
// one. A refusal does not end the session.
type Nick struct {
	Name  string `json:"name"`
	Error string `json:"error,omitempty"`
}

// Presence announces that a client joined, left or was renamed. For a
// rename, Client carries the new name and OldName the one it replaces.
type Presence struct {
	Event   string     `json:"event"` // "join", "leave" or "rename"
	Client  ClientInfo `json:"client"`
	OldName string     `json:"old_name,omitempty"`
}

// Presence events.
const (
	Join   = "join"
	Leave  = "leave"
	Rename = "rename"
)

// ClientInfo describes one connected client. IdleMS and Transfers are set
// only in Clients: the milliseconds since the client last sent a chat
// line, an offer or file bytes (or, if it never did, since it joined),
// and how many of its transfers the hub is still receiving.
type ClientInfo struct {
	ID        uint64 `json:"id"`
	Name      string `json:"name"`
	Addr      string `json:"addr"`
	IdleMS    int64  `json:"idle_ms,omitempty"`
	Transfers int    `json:"transfers,omitempty"`
}

// Who asks the hub for the list of connected clients.
type Who struct{}

// Clients answers Who.
type Clients struct {
	Clients []ClientInfo `json:"clients"`
}

// Offer proposes a transfer. Files are either regular files (sent on data
// streams) or directories (created by the receiver, no stream).
//
// To, in an offer from a client, names another connected client to relay
// the files to instead of storing them on the hub. The hub forwards such
// an offer to that client with To cleared, From and FromID naming the
// sender, and Transfer replaced by an id of the hub's choosing:
//
//	alice → hub:  {"type":"offer","transfer":"5f0c…","to":"bob","files":[…]}
//	hub → bob:    {"type":"offer","transfer":"r7a1…","from":"alice","from_id":3,"files":[…]}
type Offer struct {
	Transfer string `json:"transfer"`
	To       string `json:"to,omitempty"`
	From     string `json:"from,omitempty"`
	FromID   uint64 `json:"from_id,omitempty"`
	Files    []File `json:"files"`
}

// File is one entry of an Offer. Path is relative, with "/" separators.
// Mode holds permission bits only. MTime is in nanoseconds since the Unix
// epoch.
//
// Resume, if set, is the sender's resume token for a regular file: 32
// lowercase hex digits (128 bits) that the sender derives from a secret
// of its own and the file's path, size and mtime, so that the same file
// sent again carries the same token. The receiver keeps what it got of a
// file with a token when the transfer is cut, and tells the sender in
// Accept what it holds when an offer lists the token again. The token is a
// capability: whoever presents it may continue that file, so a sender
// keeps its secret to itself.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Mode   uint32 `json:"mode"`
	MTime  int64  `json:"mtime"`
	Dir    bool   `json:"dir,omitempty"`
	Resume string `json:"resume,omitempty"`
}

// ResumeTokenLen is the length of File.Resume: 128 bits in hex.
const ResumeTokenLen = 32

// Accept agrees to receive an offered transfer. Have lists the files of
// the offer, given with a resume token, of which the receiver already
// holds some bytes.
type Accept struct {
	Transfer string `json:"transfer"`
	Have     []Have `json:"have,omitempty"`
}

// Have says that the receiver holds the first Offset bytes of file File of
// an offer, and that their hash is Hash ("xxh3-128:" and 32 hex digits,
// see Trailer). The sender hashes the same bytes of its own file: if the hashes
// agree it sends the file from Offset (DataHeader.Offset), otherwise from
// 0. Offset may equal the file's size: the receiver has it all (from an
// earlier transfer whose result never arrived, say) and the stream then
// carries no bytes, only the trailer.
type Have struct {
	File   int    `json:"file"`
	Offset int64  `json:"offset"`
	Hash   string `json:"hash"`
}

// Reject refuses an offered transfer as a whole. Code, when set, is one
// of the Error codes: CodeShutdown tells the sender that the hub is
// stopping, so the same offer may succeed once it is back; CodeBusy that
// an earlier transfer is still receiving one of its files, so the same
// offer may succeed in a moment; CodeAway that the recipient of a relayed
// offer is not connected. From the hub to the recipient of a relayed
// offer it has not answered, Reject withdraws the offer.
type Reject struct {
	Transfer string `json:"transfer"`
	Reason   string `json:"reason"`
	Code     string `json:"code,omitempty"`
}

// Result reports the outcome for one file of a transfer: the hash the
// receiver computed and the name it stored the file under, or an error.
// Code, with Error, may be CodeAway: the recipient of a relayed file left,
// and the file may be sent again when it is back.
type Result struct {
	Transfer string `json:"transfer"`
	File     int    `json:"file"`
	Hash     string `json:"hash,omitempty"`
	Stored   string `json:"stored,omitempty"`
	Error    string `json:"error,omitempty"`
	Code     string `json:"code,omitempty"`
}

// Error reports a problem with the connection or the last request.
type Error struct {
	Code string `json:"code"`
	Text string `json:"text"`
}

// Error codes.
const (
	CodeVersion    = "version"     // protocol versions differ
	CodeBadMessage = "bad_message" // a message could not be decoded or was not expected
	CodeLimit      = "limit"       // a limit was exceeded
	CodeShutdown   = "shutdown"    // the hub is stopping
	CodeBusy       = "busy"        // in a reject: try the same offer again shortly
	CodeAway       = "away"        // in a reject or result of a relayed transfer: the recipient is not connected
)

// Notice is something the hub tells a client as text to show, such as
// that it is shutting down, or that a direct message found nobody of
// that name. Code, when set, says which (NoticeNoClient); a notice never
// ends the session.
type Notice struct {
	Text string `json:"text"`
	Code string `json:"code,omitempty"`
}

// NoticeNoClient is the Code of the Notice that answers a direct
// message (a Chat with To) for a name no connected client has.
const NoticeNoClient = "no_client"

// Bye ends a session politely.
type Bye struct {
	Reason string `json:"reason,omitempty"`
}

func (Hello) Type() string    { return "hello" }
func (Welcome) Type() string  { return "welcome" }
func (Chat) Type() string     { return "chat" }
func (Nick) Type() string     { return "nick" }
func (Presence) Type() string { return "presence" }
func (Who) Type() string      { return "who" }
func (Clients) Type() string  { return "clients" }
func (Offer) Type() string    { return "offer" }
func (Accept) Type() string   { return "accept" }
func (Reject) Type() string   { return "reject" }
func (Result) Type() string   { return "result" }
func (Error) Type() string    { return "error" }
func (Bye) Type() string      { return "bye" }
func (Notice) Type() string   { return "notice" }

// Error makes *Error usable as a Go error.
func (e *Error) Error() string { return e.Code + ": " + e.Text }

// decoders maps each "type" to a function that decodes the whole object.
var decoders = map[string]func([]byte) (Message, error){
	"hello":    decodeAs[Hello],
	"welcome":  decodeAs[Welcome],
	"chat":     decodeAs[Chat],
	"nick":     decodeAs[Nick],
	"presence": decodeAs[Presence],
	"who":      decodeAs[Who],
	"clients":  decodeAs[Clients],
	"offer":    decodeAs[Offer],
	"accept":   decodeAccept,
	"reject":   decodeAs[Reject],
	"result":   decodeAs[Result],
	"error":    decodeAs[Error],
	"bye":      decodeAs[Bye],
	"notice":   decodeAs[Notice],
}

// decodeAccept decodes an Accept whose "have" is empty as one without it,
// as it is encoded: the two mean the same.
func decodeAccept(b []byte) (Message, error) {
	var a Accept
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, err
	}
	if len(a.Have) == 0 {
		a.Have = nil
	}
	return a, nil
}

func decodeAs[T Message](b []byte) (Message, error) {
	var m T
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// Errors returned by Decode.
var (
	ErrInvalidUTF8 = errors.New("message is not valid UTF-8")
	ErrUnknownType = errors.New("unknown message type")
)

// Encode returns the JSON form of m, with its "type" member first.
func Encode(m Message) ([]byte, error) {
	if r, ok := m.(Result); ok {
		if b, ok := appendResult(nil, r); ok {
			return b, nil // canonical.go
		}
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(body) < 2 || body[0] != '{' {
		return nil, fmt.Errorf("encode %s: not a JSON object", m.Type())
	}
	out := make([]byte, 0, len(body)+len(m.Type())+12)
	out = append(out, `{"type":"`...)
	out = append(out, m.Type()...)
	out = append(out, '"')
	if len(body) > 2 {
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

// Decode parses one message. It refuses invalid UTF-8 (encoding/json would
// silently replace it) and types it does not know. Members it does not know
// are ignored, so later versions may add them.
func Decode(b []byte) (Message, error) {
	if r, ok := parseResult(b); ok {
		return r, nil // canonical.go
	}
	if !utf8.Valid(b) {
		return nil, ErrInvalidUTF8
	}
	if o, ok := parseOffer(b); ok {
		return o, nil // canonical.go
	}
	if typ, ok := typeFirst(b); ok { // canonical.go
		if dec, ok := decoders[typ]; ok {
			if m, err := dec(b); err == nil {
				return m, nil
			}
		}
	} // an error is left to the general path, which says what it is
	var env struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	dec, ok := decoders[env.Type]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, env.Type)
	}
	m, err := dec(b)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", env.Type, err)
	}
	return m, nil
}

// WriteMessage encodes m and writes it as one frame. A message whose
// encoding is over MaxControlFrame, which every receiver refuses, is not
// written: WriteMessage returns an error wrapping ErrFrameTooLarge and
// writes nothing, so the stream stays usable.
func WriteMessage(w io.Writer, m Message) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	if err := CheckControlFrame(b); err != nil {
		return fmt.Errorf("%s: %w", m.Type(), err)
	}
	return WriteFrame(w, b)
}

// CheckControlFrame returns an error wrapping ErrFrameTooLarge if the
// encoded message b does not fit in a control frame.
func CheckControlFrame(b []byte) error {
	if len(b) > MaxControlFrame {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(b), MaxControlFrame)
	}
	return nil
}

// ReadMessage reads one frame of at most MaxControlFrame bytes and decodes it.
func ReadMessage(r io.Reader) (Message, error) {
	b, err := ReadFrame(r, MaxControlFrame)
	if err != nil {
		return nil, err
	}
	return Decode(b)
}
