package protocol

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// Every target reads through a boundedReader, which fails the run if the
// code under test asks for a buffer larger than a frame may be: ReadFrame
// fills the payload it allocated with io.ReadFull, so the largest request
// is the largest allocation.

type boundedReader struct {
	t     *testing.T
	r     io.Reader
	limit int
}

func (b boundedReader) Read(p []byte) (int, error) {
	if len(p) > b.limit {
		b.t.Fatalf("asked to fill %d bytes, limit %d", len(p), b.limit)
	}
	return b.r.Read(p)
}

func bounded(t *testing.T, data []byte, limit int) io.Reader {
	return boundedReader{t: t, r: bytes.NewReader(data), limit: limit}
}

// seedFrames adds well-formed frames of every message type and a few
// malformed ones.
func seedFrames(f *testing.F) {
	for _, m := range everyMessage {
		var buf bytes.Buffer
		WriteMessage(&buf, m)
		f.Add(buf.Bytes())
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0})
	f.Add(frame(0xffffffff, ""))
	f.Add(frame(MaxHeaderFrame+1, "{}"))
	f.Add(frame(9, "{}"))
	f.Add(concat(frameOf(`{"type":"who"}`), frameOf(`{"type":"bye"}`)))
}

func FuzzReadFrame(f *testing.F) {
	seedFrames(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, limit := range []int{MaxHeaderFrame, MaxControlFrame} {
			r := bytes.NewReader(data)
			var consumed []byte
			for {
				payload, err := ReadFrame(boundedReader{t, r, limit}, limit)
				if err != nil {
					if err == io.EOF && len(consumed) != len(data) {
						t.Fatalf("io.EOF with %d of %d bytes consumed", len(consumed), len(data))
					}
					break
				}
				if len(payload) > limit {
					t.Fatalf("payload of %d bytes, limit %d", len(payload), limit)
				}
				var buf bytes.Buffer
				WriteFrame(&buf, payload)
				consumed = append(consumed, buf.Bytes()...)
			}
			// What was read, written again, is the input it came from.
			if !bytes.HasPrefix(data, consumed) {
				t.Fatalf("rewritten frames % x are not a prefix of the input", head(consumed))
			}
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, m := range everyMessage {
		b, _ := Encode(m)
		f.Add(b)
	}
	for _, s := range []string{
		`{"text":"hi","type":"chat","x":[1,{"y":null}]}`,
		`{"type":"chat","text":"a","text":"b"}`,
		`{"type":"chat","text":"\ud800"}`,
		`{"type":"clients","clients":null}`,
		`{"type":"offer","transfer":"t","files":[]}`,
		`{"type":"result","transfer":"t","file":-1}`,
		"{\"type\":\"chat\",\"text\":\"\xff\"}",
		`{"type":"nope"}`,
		`null`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		if !utf8.Valid(data) {
			t.Fatalf("decoded invalid UTF-8 %q", data)
		}
		checkReencodes(t, m)

		// The same bytes as a frame decode to the same message.
		var buf bytes.Buffer
		WriteFrame(&buf, data)
		if len(data) <= MaxControlFrame {
			fm, err := ReadMessage(bounded(t, buf.Bytes(), MaxControlFrame))
			if err != nil || !reflect.DeepEqual(fm, m) {
				t.Fatalf("ReadMessage = %#v, %v; Decode gave %#v", fm, err, m)
			}
		}
	})
}

// checkReencodes asserts that m encodes with its type first, and that the
// encoding decodes to m and encodes to the same bytes again.
func checkReencodes(t *testing.T, m Message) {
	t.Helper()
	b, err := Encode(m)
	if err != nil {
		t.Fatalf("Encode(%#v): %v", m, err)
	}
	if !strings.HasPrefix(string(b), `{"type":"`+m.Type()+`"`) {
		t.Fatalf("Encode(%#v) = %s: type is not first", m, b)
	}
	m2, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode(Encode(m)) = %v for %s", err, b)
	}
	if !reflect.DeepEqual(m2, m) {
		t.Fatalf("Decode(Encode(m)) = %#v, want %#v", m2, m)
	}
	if b2, _ := Encode(m2); !bytes.Equal(b2, b) {
		t.Fatalf("encoding is not stable: %s then %s", b, b2)
	}
}

func FuzzReadMessage(f *testing.F) {
	seedFrames(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bounded(t, data, MaxControlFrame)
		for {
			m, err := ReadMessage(r)
			if err != nil {
				return
			}
			checkReencodes(t, m)
		}
	})
}

func FuzzReadHeader(f *testing.F) {
	var buf bytes.Buffer
	WriteHeader(&buf, DataHeader{Transfer: "5f0c2a9e1b7d4c3a8e6f0b1d2c3e4f5a", File: 3})
	f.Add(buf.Bytes())
	f.Add(frameOf(`{"transfer":"t","file":-1,"offset":0}`))
	f.Add(frameOf(`{"transfer":"t","file":0,"offset":-1}`))
	f.Add(frameOf(`{"file":9223372036854775807,"offset":9223372036854775807}`))
	f.Add(frameOf(`null`))
	f.Add(frameOf(`{"to":"bob","to_identity":"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"}`))
	f.Add(frameOf(`{"from":"alice","from_id":3,"from_identity":"8a88"}`))
	f.Add(frame(MaxHeaderFrame+1, "{}"))
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ReadHeader(bounded(t, data, MaxHeaderFrame))
		if err != nil {
			return
		}
		if h.File < 0 || h.Offset < 0 {
			t.Fatalf("accepted negative file or offset: %+v", h)
		}
		var out bytes.Buffer
		if err := WriteHeader(&out, h); err != nil {
			t.Fatal(err)
		}
		if fitsHeaderFrame(out.Bytes()) {
			h2, err := ReadHeader(&out)
			if err != nil || h2 != h {
				t.Fatalf("ReadHeader(WriteHeader(%+v)) = %+v, %v", h, h2, err)
			}
		}
	})
}

func FuzzReadTrailer(f *testing.F) {
	var buf bytes.Buffer
	WriteTrailer(&buf, Trailer{Hash: "xxh3-128:99aa06d3014798d86001c324468d497f"})
	f.Add(buf.Bytes())
	f.Add(frameOf(`{"hash":""}`))
	f.Add(frameOf("{\"hash\":\"\xff\"}"))
	f.Add(frameOf(`{"hash":"\u003c"}`))
	f.Add(frame(MaxHeaderFrame+1, "{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := ReadTrailer(bounded(t, data, MaxHeaderFrame))
		if err != nil {
			return
		}
		if !utf8.ValidString(tr.Hash) {
			t.Fatalf("trailer hash %q is not valid UTF-8", tr.Hash)
		}
		var out bytes.Buffer
		if err := WriteTrailer(&out, tr); err != nil {
			t.Fatal(err)
		}
		if fitsHeaderFrame(out.Bytes()) {
			tr2, err := ReadTrailer(&out)
			if err != nil || tr2 != tr {
				t.Fatalf("ReadTrailer(WriteTrailer(%+v)) = %+v, %v", tr, tr2, err)
			}
		}
	})
}

// fitsHeaderFrame reports whether a frame written by this package is
// within the header limit. A value read from a frame at the limit may not
// be: encoding/json writes "<" as the six bytes "\u003c".
func fitsHeaderFrame(b []byte) bool {
	_, err := ReadFrame(bytes.NewReader(b), MaxHeaderFrame)
	return !errors.Is(err, ErrFrameTooLarge)
}

func FuzzReadChannelReply(f *testing.F) {
	var buf bytes.Buffer
	WriteChannelReply(&buf, ChannelReply{To: "bob", ToID: 7, ToIdentity: "3d40"})
	f.Add(buf.Bytes())
	f.Add(frameOf(`{"error":"nobody called \"carol\" is connected","code":"away"}`))
	f.Add(frameOf(`{}`))
	f.Add(frameOf(`{"to":"\u0000","to_id":-1}`))
	f.Add(frame(MaxHeaderFrame+1, "{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ReadChannelReply(bounded(t, data, MaxHeaderFrame))
		if err != nil {
			return
		}
		if r.To == "" && r.Error == "" {
			t.Fatalf("accepted a reply that says nothing: %+v", r)
		}
		var out bytes.Buffer
		if err := WriteChannelReply(&out, r); err != nil {
			t.Fatal(err)
		}
		if fitsHeaderFrame(out.Bytes()) {
			r2, err := ReadChannelReply(&out)
			if err != nil || r2 != r {
				t.Fatalf("ReadChannelReply(WriteChannelReply(%+v)) = %+v, %v", r, r2, err)
			}
		}
	})
}
