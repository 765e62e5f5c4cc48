package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
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

// Hello is the client's first message. A client with an identity sends
// its Ed25519 public key as Identity and its signature over the
// connection's binding as Proof, both in lowercase hex (see the protocol's
// README, "identity"). DefaultName says that Name is a default the
// program chose (a login name), not one the person asked for: where it
// belongs to another identity, the hub numbers it instead of refusing.
type Hello struct {
	Version     int    `json:"version"`
	Name        string `json:"name"`
	DefaultName bool   `json:"default_name,omitempty"`
	Software    string `json:"software,omitempty"`
	Identity    string `json:"identity,omitempty"`
	Proof       string `json:"proof,omitempty"`
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
// client of that name only (a direct message); the hub fills in From,
// FromID and FromIdentity (the sender's identity, if it proved one) before
// passing it on, and sets To, on a direct message, to the recipient's
// name. ToIdentity, from a client, is the identity the sender expects the
// recipient to have (the one it pinned): the hub delivers the message only
// to a client with that identity, and answers otherwise with a Notice of
// code NoticeKeyChanged.
type Chat struct {
	From         string `json:"from,omitempty"`
	FromID       uint64 `json:"from_id,omitempty"`
	FromIdentity string `json:"from_identity,omitempty"`
	To           string `json:"to,omitempty"`
	ToIdentity   string `json:"to_identity,omitempty"`
	Text         string `json:"text"`
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
	Identity  string `json:"identity,omitempty"` // the Ed25519 key the client proved, in hex; "" for none
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
//
// ToIdentity and FromIdentity are the identities of the two clients, as
// for Chat: the sender may say which identity it expects the recipient to
// have (the hub rejects the offer with CodeIdentity if it has another),
// and the hub tells the recipient the sender's.
//
// Get, in an offer from the hub, is the ID of the client's Get that the
// offer answers: the hub sends files it stores, and the client receives
// them as a recipient of a relayed offer would.
//
// Files holds at most MaxOfferFiles entries: Decode refuses a longer list
// with ErrTooManyFiles before it decodes any entry.
type Offer struct {
	Transfer     string    `json:"transfer"`
	To           string    `json:"to,omitempty"`
	ToIdentity   string    `json:"to_identity,omitempty"`
	From         string    `json:"from,omitempty"`
	FromID       uint64    `json:"from_id,omitempty"`
	FromIdentity string    `json:"from_identity,omitempty"`
	Get          string    `json:"get,omitempty"`
	Hold         *HoldSpec `json:"hold,omitempty"`
	Files        []File    `json:"files"`
}

// MaxOfferFiles bounds the entries, files and folders, of one Offer, and
// the Have entries of one Accept (at most one for each file offered).
// Decode counts the entries first and decodes none of a longer list: a
// control frame of 1 MiB holds about 350,000 empty entries, {}, which
// encoding/json decoded into 22 MiB of File values, allocating over
// 60 MiB on the way, before anything counted them.
const MaxOfferFiles = 100000

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
//
// With CodeIdentity, the recipient of a relayed offer does not have the
// identity the offer's ToIdentity expects: Identity is the one it has (""
// for none).
type Reject struct {
	Transfer string `json:"transfer"`
	Reason   string `json:"reason"`
	Code     string `json:"code,omitempty"`
	Identity string `json:"identity,omitempty"`
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
	CodeNoRoom     = "no_room"     // in a result: the receiver's disk is full, or its reserve would be crossed
	CodeIdentity   = "identity"    // the hello's identity or its proof is wrong
	CodeNameOwned  = "name_owned"  // the name asked for belongs to another identity
	CodeNotMember  = "not_member"  // the client's identity was removed from a members-only hub
)

// Notice is something the hub tells a client as text to show, such as
// that it is shutting down, or that a direct message found nobody of
// that name. Code, when set, says which (NoticeNoClient); a notice never
// ends the session.
type Notice struct {
	Text     string `json:"text"`
	Code     string `json:"code,omitempty"`
	To       string `json:"to,omitempty"`       // NoticeKeyChanged: the direct message's recipient
	Identity string `json:"identity,omitempty"` // NoticeKeyChanged: the recipient's identity ("" for none)
}

// Codes of a Notice.
const (
	// NoticeNoClient answers a direct message (a Chat with To) for a name
	// no connected client has.
	NoticeNoClient = "no_client"
	// NoticeKeyChanged answers a direct message whose ToIdentity is not
	// the recipient's identity: the message was not delivered.
	NoticeKeyChanged = "key_changed"
)

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
	"offer":    decodeOffer,
	"accept":   decodeAccept,
	"reject":   decodeAs[Reject],
	"result":   decodeAs[Result],
	"error":    decodeAs[Error],
	"bye":      decodeAs[Bye],
	"notice":   decodeAs[Notice],
	"list":     decodeAs[List],
	"listing":  decodeListing,
	"get":      decodeGet,
	"got":      decodeAs[Got],
	"lookup":   decodeLookup,
	"people":   decodeAs[People],
	"held":     decodeAs[Held],
	"waiting":  decodeAs[Waiting],
	"release":  decodeAs[Release],
	"holds":    decodeAs[Holds],
	"holdings": decodeAs[Holdings],
}

// decodeOffer decodes an offer as encoding/json would, but counts the
// entries of its list of files before it decodes them (boundedList).
func decodeOffer(b []byte) (Message, error) {
	// The outer Files hides Offer's own, as a shallower field does in Go:
	// encoding/json matches member names to it as it did to Offer.Files.
	var w struct {
		Offer
		Files boundedList[File] `json:"files"`
		Hold  json.RawMessage   `json:"hold"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	w.Offer.Files = w.Files
	if len(w.Hold) > 0 && string(w.Hold) != "null" {
		var h struct {
			HoldSpec
			To json.RawMessage `json:"to"`
		}
		if err := json.Unmarshal(w.Hold, &h); err != nil {
			return nil, err
		}
		spec := h.HoldSpec
		if err := decodeBounded(h.To, &spec.To, MaxHoldRecipients, "recipients"); err != nil {
			return nil, err
		}
		w.Offer.Hold = &spec
	}
	return w.Offer, nil
}

// decodeAccept decodes an Accept whose "have" is empty as one without it,
// as it is encoded: the two mean the same. Its list is bounded as an
// offer's is: a recipient's accept is decoded by the hub.
func decodeAccept(b []byte) (Message, error) {
	var w struct {
		Accept
		Have boundedList[Have] `json:"have,omitempty"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	a := w.Accept
	if a.Have = w.Have; len(a.Have) == 0 {
		a.Have = nil
	}
	return a, nil
}

// boundedList is a JSON array of at most MaxOfferFiles elements. Its
// UnmarshalJSON counts the elements before it decodes any, and refuses a
// longer list with ErrTooManyFiles having allocated nothing for it.
type boundedList[T any] []T

// UnmarshalJSON decodes b, a valid JSON value (encoding/json has checked
// the whole message before it calls this), into l as encoding/json decodes
// into a slice: into the elements l already has, as it does for a member
// given twice, and nil for null.
func (l *boundedList[T]) UnmarshalJSON(b []byte) error {
	n := countElements(b, MaxOfferFiles)
	if n > MaxOfferFiles {
		return fmt.Errorf("%w: more than %d entries", ErrTooManyFiles, MaxOfferFiles)
	}
	list := []T(*l)
	list = slices.Grow(list, max(0, n-len(list))) // once, to the size it will have
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*l = list
	return nil
}

// countElements returns the number of elements of b, a valid JSON value,
// if it is an array, or limit+1 if there are more than limit; 0 for any
// other value. It reads each byte once and allocates nothing.
func countElements(b []byte, limit int) int {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != '[' {
		return 0
	}
	b = bytes.TrimLeft(b[1:], " \t\r\n")
	if len(b) == 0 || b[0] == ']' {
		return 0
	}
	n, depth, inString := 1, 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inString && c == '\\':
			i++ // the escaped byte, which may be a quote
		case inString:
			inString = c != '"'
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			if depth--; depth < 0 {
				return n // the end of the list
			}
		case c == ',' && depth == 0:
			if n++; n > limit {
				return n
			}
		}
	}
	return n
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
	// ErrTooManyFiles reports an offer of more than MaxOfferFiles
	// entries, or an accept of more than MaxOfferFiles held files: a
	// limit exceeded (CodeLimit) rather than a malformed message.
	ErrTooManyFiles = errors.New("too many files")
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
// silently replace it), types it does not know, and an offer or accept
// listing more than MaxOfferFiles entries (ErrTooManyFiles), which it
// counts before it decodes them. Members it does not know are ignored, so
// later versions may add them.
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
			m, err := dec(b)
			if err == nil {
				return m, nil
			}
			if errors.Is(err, ErrTooManyFiles) { // the general path would count again
				return nil, fmt.Errorf("decode %s: %w", typ, err)
			}
		}
	} // another error is left to the general path, which says what it is
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
