package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// everyMessage holds one filled-in example of each message type, as the
// hub and its clients send them.
var everyMessage = []Message{
	Hello{Version: Version, Name: "alice", Software: "muxfer 0.1.0"},
	Welcome{Version: Version, ID: 7, Name: "alice-2", Software: "muxfer 0.1.0"},
	Chat{Text: "hello, world"},
	Chat{From: "alice", FromID: 7, Text: "héllo <b>&</b>\n\u2028"},
	Presence{Event: Join, Client: ClientInfo{ID: 7, Name: "alice", Addr: "192.0.2.1:50312"}},
	Presence{Event: Leave, Client: ClientInfo{ID: 7, Name: "alice", Addr: "[2001:db8::1]:50312"}},
	Presence{Event: Rename, Client: ClientInfo{ID: 7, Name: "alicia", Addr: "192.0.2.1:50312"}, OldName: "alice"},
	Chat{To: "bob", Text: "just for you"},
	Chat{From: "alice", FromID: 7, To: "bob", Text: "just for you"},
	Nick{Name: "alicia"},
	Nick{Name: "alice", Error: `name "bob" is taken`},
	Who{},
	Clients{Clients: []ClientInfo{{ID: 1, Name: "bob", Addr: "192.0.2.2:40000"}, {ID: 7, Name: "alice", Addr: "192.0.2.1:50312"}}},
	Clients{Clients: []ClientInfo{{ID: 1, Name: "bob", Addr: "192.0.2.2:40000", IdleMS: 61500, Transfers: 2}}},
	Clients{Clients: []ClientInfo{}},
	Offer{Transfer: "5f0c2a9e1b7d4c3a8e6f0b1d2c3e4f5a", Files: []File{
		{Path: "photos", Mode: 0o755, MTime: 1700000000123456789, Dir: true},
		{Path: "photos/cat.jpg", Size: 48213, Mode: 0o644, MTime: 1700000000987654321},
	}},
	Accept{Transfer: "5f0c2a9e1b7d4c3a8e6f0b1d2c3e4f5a"},
	Reject{Transfer: "5f0c2a9e1b7d4c3a8e6f0b1d2c3e4f5a", Reason: "more than 64 transfers at once"},
	Result{Transfer: "5f0c2a9e1b7d4c3a8e6f0b1d2c3e4f5a", File: 1, Hash: "xxh3-128:99aa06d3014798d86001c324468d497f", Stored: "photos/cat (1).jpg"},
	Result{Transfer: "5f0c2a9e1b7d4c3a8e6f0b1d2c3e4f5a", File: 1, Error: "photos/cat.jpg: no space left on device"},
	Error{Code: CodeVersion, Text: "client speaks protocol version 2, this hub speaks 1"},
	Bye{Reason: "hub is shutting down"},
	Bye{},
	Notice{Text: "hub is shutting down: transfers in progress may finish, new ones are refused"},
	Notice{Text: `no client named "bob"`, Code: NoticeNoClient},
	List{ID: "l1", Path: "photos", Recursive: true},
	List{ID: "l2"},
	Listing{ID: "l1", Entries: []Entry{
		{Path: "photos/2024", Dir: true, Mode: 0o755, MTime: 1700000000123456789},
		{Path: "photos/cat.jpg", Size: 48213, Mode: 0o644, MTime: 1700000000987654321, By: "alice",
			ByIdentity: "9d0f3c1e2b4a59687d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c", At: 1700000100,
			Hash: "xxh3-128:99aa06d3014798d86001c324468d497f"},
	}, More: true},
	Listing{ID: "l2", Entries: []Entry{}, Error: `no such file or folder: "nope"`, Code: CodeNotFound},
	Get{ID: "g1", Paths: []string{"photos", "notes/a.txt"}, Parallel: 8},
	Offer{Transfer: "7e0c2a9e1b7d4c3a8e6f0b1d2c3e4f5a", Get: "g1", Files: []File{
		{Path: "a.txt", Size: 5, Mode: 0o644, MTime: 1700000000987654321, Resume: "0123456789abcdef0123456789abcdef"},
	}},
	Got{ID: "g1", Files: 3, Bytes: 48218, Failed: 1},
	Got{ID: "g2", Error: "this hub lets nobody read its files", Code: CodeDenied},
	Get{ID: "g3", Hold: "0123456789abcdef0123456789abcdef", Paths: []string{"key", "manifest"}},
	Lookup{ID: "k1", Names: []string{"bob", "carol"}},
	People{ID: "k1", People: []Person{{Name: "bob", Identity: "9d0f", Online: true}, {Name: "carol", Identity: ""}}},
	Offer{Transfer: "8e0c2a9e1b7d4c3a8e6f0b1d2c3e4f5a", Hold: &HoldSpec{ID: "0123456789abcdef0123456789abcdef",
		To: []Person{{Name: "carol", Identity: "9d0f"}}}, Files: []File{
		{Path: "0123456789abcdef0123456789abcdef/key", Size: 250, Mode: 0o600, MTime: 1},
	}},
	Held{ID: "0123456789abcdef0123456789abcdef", To: []Person{{Name: "carol", Identity: "9d0f"}}, Expires: 1700600000},
	Waiting{Holds: []Hold{{ID: "0123456789abcdef0123456789abcdef", From: "alice", FromIdentity: "aa", Bytes: 1000, Streams: 3, Created: 1700000000, Expires: 1700600000}}},
	Release{Hold: "0123456789abcdef0123456789abcdef", Taken: true},
	Holds{ID: "h1", Withdraw: "0123456789abcdef0123456789abcdef"},
	Holdings{ID: "h1", Holds: []Hold{{ID: "0123456789abcdef0123456789abcdef", From: "alice", FromIdentity: "aa",
		To: []Person{{Name: "carol", Identity: "9d0f", State: HoldWaiting}}, Bytes: 1000, Streams: 3, Created: 1700000000, Expires: 1700600000}}},
}

func TestExamplesCoverEveryMessageType(t *testing.T) {
	covered := map[string]bool{}
	for _, m := range everyMessage {
		covered[m.Type()] = true
	}
	for typ := range decoders {
		if !covered[typ] {
			t.Errorf("no example of %q in everyMessage", typ)
		}
	}
}

func TestEncodeDecodeRoundTripsEveryMessage(t *testing.T) {
	for _, m := range everyMessage {
		t.Run(m.Type(), func(t *testing.T) {
			b, err := Encode(m)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(%s): %v", b, err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("Decode(Encode(m)) = %#v, want %#v", got, m)
			}
		})
	}
}

func TestWriteMessageReadMessageRoundTripsEveryMessageInOrder(t *testing.T) {
	var buf bytes.Buffer
	for _, m := range everyMessage {
		if err := WriteMessage(&buf, m); err != nil {
			t.Fatalf("WriteMessage(%T): %v", m, err)
		}
	}
	for i, want := range everyMessage {
		got, err := ReadMessage(&buf)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("message %d = %#v, want %#v", i, got, want)
		}
	}
	if _, err := ReadMessage(&buf); err != io.EOF {
		t.Fatalf("after the last message: %v, want io.EOF", err)
	}
}

func TestEncodePutsTypeFirst(t *testing.T) {
	for _, m := range everyMessage {
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if prefix := `{"type":"` + m.Type() + `"`; !strings.HasPrefix(string(b), prefix) {
			t.Errorf("Encode(%T) = %s, want it to start with %s", m, b, prefix)
		}
	}
}

func TestEncodeWritesTheDocumentedBytes(t *testing.T) {
	tests := []struct {
		m    Message
		want string
	}{
		{Who{}, `{"type":"who"}`},
		{Bye{}, `{"type":"bye"}`},
		{Chat{Text: "hi"}, `{"type":"chat","text":"hi"}`},
		{Chat{From: "alice", FromID: 7, Text: "hi"}, `{"type":"chat","from":"alice","from_id":7,"text":"hi"}`},
		{Chat{Text: "<&>"}, `{"type":"chat","text":"\u003c\u0026\u003e"}`},
		{&Error{Code: CodeLimit, Text: "too long"}, `{"type":"error","code":"limit","text":"too long"}`},
		{Offer{Transfer: "t", Files: []File{{Path: "a"}}}, `{"type":"offer","transfer":"t","files":[{"path":"a","size":0,"mode":0,"mtime":0}]}`},
		{Result{Transfer: "t", File: 0}, `{"type":"result","transfer":"t","file":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.m.Type(), func(t *testing.T) {
			got, err := Encode(tt.m)
			if err != nil || string(got) != tt.want {
				t.Fatalf("Encode = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestWriteMessageWritesOneFrameInOneWrite(t *testing.T) {
	var w writeCounter
	if err := WriteMessage(&w, Chat{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if len(w.writes) != 1 || string(w.writes[0]) != string(frameOf(`{"type":"chat","text":"hi"}`)) {
		t.Fatalf("writes %q, want one frame", w.writes)
	}
}

func TestDecodeAcceptsMembersInAnyOrderAndIgnoresUnknownOnes(t *testing.T) {
	tests := []struct {
		json string
		want Message
	}{
		{`{"text":"hi","type":"chat"}`, Chat{Text: "hi"}},
		{`{"type":"chat","text":"hi","color":"red","extra":{"a":[1,2,null]}}`, Chat{Text: "hi"}},
		{`{"type":"who","since":12}`, Who{}},
		{` {"type" : "bye"} `, Bye{}},
		{`{"type":"chat","text":"\u00e9\ud83d\ude00"}`, Chat{Text: "é😀"}},
		{`{"type":"hello","version":2,"name":"zoe"}`, Hello{Version: 2, Name: "zoe"}},
		{`{"type":"clients","clients":null}`, Clients{}},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			got, err := Decode([]byte(tt.json))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Decode = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeRefusesInvalidUTF8(t *testing.T) {
	tests := []struct {
		name string
		json string
	}{
		{"stray byte in a string", "{\"type\":\"chat\",\"text\":\"a\xffb\"}"},
		{"stray byte in a member name", "{\"type\":\"chat\",\"te\x80xt\":\"a\"}"},
		{"overlong NUL", "{\"type\":\"chat\",\"text\":\"\xc0\x80\"}"},
		{"encoded surrogate", "{\"type\":\"chat\",\"text\":\"\xed\xa0\x80\"}"},
		{"truncated sequence", "{\"type\":\"chat\",\"text\":\"\xe2\x82\"}"},
		{"Latin-1 text", "{\"type\":\"chat\",\"text\":\"caf\xe9\"}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.json))
			if !errors.Is(err, ErrInvalidUTF8) {
				t.Fatalf("Decode = %#v, %v; want ErrInvalidUTF8", m, err)
			}
		})
	}
}

func TestDecodeRefusesUnknownTypes(t *testing.T) {
	for _, json := range []string{
		`{"type":"file"}`,
		`{"type":"Chat","text":"hi"}`, // type names are case-sensitive
		`{"type":""}`,
		`{"text":"hi"}`, // no type at all
		`{}`,
		`null`,
	} {
		t.Run(json, func(t *testing.T) {
			m, err := Decode([]byte(json))
			if !errors.Is(err, ErrUnknownType) {
				t.Fatalf("Decode = %#v, %v; want ErrUnknownType", m, err)
			}
		})
	}
}

func TestDecodeRefusesWhatIsNotOneJSONObject(t *testing.T) {
	for _, json := range []string{
		``,
		`   `,
		`[]`,
		`[{"type":"chat"}]`,
		`"chat"`,
		`42`,
		`true`,
		`{`,
		`{"type":"chat"`,
		`{"type":"chat","text":"hi"} {}`,
		`{"type":"chat","text":"hi"}x`,
		`{"type":"chat",}`,
		`{'type':'chat'}`,
		`{"type":1}`,
		`{"type":null,"text":"hi"}`,
	} {
		t.Run(json, func(t *testing.T) {
			if m, err := Decode([]byte(json)); err == nil {
				t.Fatalf("Decode(%q) = %#v, want an error", json, m)
			}
		})
	}
}

func TestDecodeRefusesMembersOfTheWrongKind(t *testing.T) {
	for _, json := range []string{
		`{"type":"chat","text":5}`,
		`{"type":"hello","version":"1"}`,
		`{"type":"hello","version":1.5}`,
		`{"type":"welcome","version":1,"id":-1}`,
		`{"type":"result","transfer":"t","file":1e3}`,
		`{"type":"offer","transfer":"t","files":{}}`,
		`{"type":"offer","transfer":"t","files":[{"path":"a","size":"10"}]}`,
		`{"type":"offer","transfer":"t","files":[{"path":"a","mode":-1}]}`,
		`{"type":"offer","transfer":"t","files":[{"path":"a","dir":"yes"}]}`,
		`{"type":"presence","event":"join","client":[]}`,
	} {
		t.Run(json, func(t *testing.T) {
			if m, err := Decode([]byte(json)); err == nil {
				t.Fatalf("Decode = %#v, want an error", m)
			}
		})
	}
}

func TestReadMessageRefusesFrameAboveControlLimit(t *testing.T) {
	chatOfSize := func(n int) string {
		const empty = `{"type":"chat","text":""}`
		return `{"type":"chat","text":"` + strings.Repeat("x", n-len(empty)) + `"}`
	}
	atLimit, overLimit := chatOfSize(MaxControlFrame), chatOfSize(MaxControlFrame+1)

	m, err := ReadMessage(bytes.NewReader(frameOf(atLimit)))
	if err != nil {
		t.Fatalf("a frame of exactly 1 MiB: %v", err)
	}
	if c, ok := m.(Chat); !ok || len(c.Text) != MaxControlFrame-len(`{"type":"chat","text":""}`) {
		t.Fatalf("a frame of exactly 1 MiB decoded to %T", m)
	}
	if _, err := ReadMessage(bytes.NewReader(frameOf(overLimit))); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("a frame of 1 MiB + 1: %v, want ErrFrameTooLarge", err)
	}
}

func TestReadMessageTellsCleanEndFromTruncation(t *testing.T) {
	chat := frameOf(`{"type":"chat","text":"hi"}`)
	tests := []struct {
		name  string
		input []byte
		want  error
	}{
		{"nothing", nil, io.EOF},
		{"part of the length", chat[:3], io.ErrUnexpectedEOF},
		{"part of the payload", chat[:len(chat)-1], io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ReadMessage(bytes.NewReader(tt.input)); err != tt.want {
				t.Fatalf("ReadMessage = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReadMessagePassesOnDecodeErrors(t *testing.T) {
	tests := []struct {
		payload string
		want    error
	}{
		{"{\"type\":\"chat\",\"text\":\"\xff\"}", ErrInvalidUTF8},
		{`{"type":"shout"}`, ErrUnknownType},
	}
	for _, tt := range tests {
		if _, err := ReadMessage(bytes.NewReader(frameOf(tt.payload))); !errors.Is(err, tt.want) {
			t.Errorf("ReadMessage(%q) = %v, want %v", tt.payload, err, tt.want)
		}
	}
}

func TestErrorMessageIsAGoError(t *testing.T) {
	var err error = &Error{Code: CodeLimit, Text: "chat message of 20000 bytes, limit 16384"}
	if got := err.Error(); got != "limit: chat message of 20000 bytes, limit 16384" {
		t.Fatalf("Error() = %q", got)
	}
	var pe *Error
	if !errors.As(fmt.Errorf("connect: %w", err), &pe) || pe.Code != CodeLimit {
		t.Fatalf("errors.As did not find the *Error")
	}
}
