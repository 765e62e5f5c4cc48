package protocol

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

// canonicalPieces are the bytes near-canonical frames are made of, so
// that random frames often come close to the canonical form and cross
// its edges: escapes, spaces, signs, leading zeros, big numbers, other
// keys, other case.
var canonicalPieces = []string{
	`{"transfer":"`, `","file":`, `,"offset":`, `{"hash":"`, `"}`, `}`, `"`, `,`, `:`, ` `, `\"`, `\\`,
	`\u0041`, `-`, `0`, `00`, `1`, `7`, `9223372036854775807`, `9223372036854775808`, `-9223372036854775808`,
	`1e3`, `1.0`, `null`, `"x"`, `{"Transfer":"`, `,"File":`, `,"extra":1`, "\xff", "é", `<&>`, "\n", `abc`, `xxh3-128:9c1e`,
}

var (
	stringPieces = []string{"5f0c9a", "", "a b", `\"`, `\\`, "\xff", "é", "<&>", "\t", `\u0041`, `x"y`}
	numberPieces = []string{"0", "1", "42", "-1", "-0", "00", "01", "1.5", "1e3", "", "-", "9223372036854775807",
		"9223372036854775808", "-9223372036854775808", " 1", "1 ", "null", `"1"`}
	endPieces = []string{"}", "} ", "}}", `,"x":1}`, "", `,"file":2}`}
)

func pick(r *rand.Rand, pieces []string) string { return pieces[r.IntN(len(pieces))] }

func randomFrame(r *rand.Rand) []byte {
	var b []byte
	for range r.IntN(8) + 1 {
		b = append(b, canonicalPieces[r.IntN(len(canonicalPieces))]...)
	}
	return b
}

func TestCanonicalHeaderReadsAsEncodingJSONDoes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	matched := 0
	for range 200000 {
		b := randomFrame(r)
		if r.IntN(2) == 0 { // near a true header, often
			b = []byte(`{"transfer":"` + pick(r, stringPieces) + `","file":` + pick(r, numberPieces) +
				`,"offset":` + pick(r, numberPieces) + pick(r, endPieces))
		}
		got, ok := parseHeader(b)
		if !ok {
			continue
		}
		matched++
		var want DataHeader
		if err := json.Unmarshal(b, &want); err != nil || got != want {
			t.Fatalf("%q: canonical %+v, encoding/json %+v (%v)", b, got, want, err)
		}
	}
	if matched < 100 {
		t.Fatalf("only %d random frames were canonical headers: the test is not testing", matched)
	}
}

func TestCanonicalTrailerReadsAsEncodingJSONDoes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	matched := 0
	for range 200000 {
		b := randomFrame(r)
		if r.IntN(2) == 0 {
			b = append([]byte(`{"hash":"`), b...)
		}
		got, ok := parseTrailer(b)
		if !ok {
			continue
		}
		matched++
		var want Trailer
		if err := json.Unmarshal(b, &want); err != nil || got != want {
			t.Fatalf("%q: canonical %+v, encoding/json %+v (%v)", b, got, want, err)
		}
	}
	if matched < 100 {
		t.Fatalf("only %d random frames were canonical trailers", matched)
	}
}

func TestDataFramesRoundTripInEitherForm(t *testing.T) {
	headers := []DataHeader{
		{Transfer: "5f0c9a", File: 2, Offset: 0},
		{Transfer: "", File: 0, Offset: 1 << 62},
		{Transfer: `quote"back\slash`, File: 1, Offset: 5}, // not canonical: encoding/json writes it
		{Transfer: "é<&>\n", File: 3, Offset: 7},
	}
	for _, h := range headers {
		var buf bytes.Buffer
		if err := WriteHeader(&buf, h); err != nil {
			t.Fatal(err)
		}
		got, err := ReadHeader(&buf)
		if err != nil || got != h {
			t.Errorf("header %+v read back as %+v (%v)", h, got, err)
		}
	}
	for _, tr := range []Trailer{{Hash: "xxh3-128:00112233445566778899aabbccddeeff"}, {Hash: "é\"\\"}, {}} {
		var buf bytes.Buffer
		if err := WriteTrailer(&buf, tr); err != nil {
			t.Fatal(err)
		}
		got, err := ReadTrailer(&buf)
		if err != nil || got != tr {
			t.Errorf("trailer %+v read back as %+v (%v)", tr, got, err)
		}
	}
}

func TestCanonicalHeaderIsWhatTheWriterWrites(t *testing.T) {
	var buf bytes.Buffer
	WriteHeader(&buf, DataHeader{Transfer: "5f0c", File: 2, Offset: 0})
	if got, want := buf.String()[4:], `{"transfer":"5f0c","file":2,"offset":0}`; got != want {
		t.Errorf("header frame %s, want %s", got, want)
	}
}

func FuzzCanonicalHeader(f *testing.F) {
	f.Add([]byte(`{"transfer":"5f0c","file":2,"offset":0}`))
	f.Add([]byte(`{"transfer":"5f0c","file":02,"offset":0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := parseHeader(b)
		if !ok {
			return
		}
		var want DataHeader
		if err := json.Unmarshal(b, &want); err != nil || got != want {
			t.Fatalf("%q: canonical %+v, encoding/json %+v (%v)", b, got, want, err)
		}
	})
}

func TestCanonicalResultReadsAsEncodingJSONDoes(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	matched := 0
	for range 200000 {
		b := []byte(`{"type":"result","transfer":"` + pick(r, stringPieces) + `","file":` + pick(r, numberPieces) +
			`,"hash":"` + pick(r, stringPieces) + `","stored":"` + pick(r, stringPieces) + `"` + pick(r, endPieces))
		if r.IntN(4) == 0 {
			b = randomFrame(r)
		}
		got, ok := parseResult(b)
		if !ok {
			continue
		}
		matched++
		want, err := decodeAs[Result](b) // what Decode did before the canonical form
		if err != nil || got != want {
			t.Fatalf("%q: canonical %+v, encoding/json %+v (%v)", b, got, want, err)
		}
	}
	if matched < 100 {
		t.Fatalf("only %d random messages were canonical results", matched)
	}
}

func TestResultsRoundTripInEitherForm(t *testing.T) {
	for _, want := range []Result{
		{Transfer: "5f0c", File: 2, Hash: "xxh3-128:00ff", Stored: "photos/a (1).jpg"},
		{Transfer: "5f0c", File: 3, Hash: "xxh3-128:00ff", Stored: "été/\"q\".txt"}, // not plain: encoding/json
		{Transfer: "5f0c", File: 4, Error: "receiver: no space left on device", Code: "disk_full"},
		{Transfer: "5f0c", File: 5, Hash: "xxh3-128:00ff"},
	} {
		b, err := Encode(want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil || got != want {
			t.Errorf("%+v: encoded %s, decoded %+v (%v)", want, b, got, err)
		}
	}
}

// decodeTwice is Decode as it was before typeFirst: the type, then the
// message.
func decodeTwice(b []byte) (Message, error) {
	if !utf8.Valid(b) {
		return nil, ErrInvalidUTF8
	}
	var env struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, err
	}
	dec, ok := decoders[env.Type]
	if !ok {
		return nil, ErrUnknownType
	}
	return dec(b)
}

func TestDecodeReadsEveryMessageAsBefore(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var encoded [][]byte
	for _, m := range everyMessage {
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		encoded = append(encoded, b)
	}
	tails := []string{`,"type":"chat"}`, `,"TYPE":"bye"}`, `,"typ\u0065":"who"}`, `,"text":"prototype"}`, `}`, `,"x":1}`, `,}`, ``, `,"text":"\u0074"}`}
	for range 50000 {
		b := bytes.Clone(encoded[r.IntN(len(encoded))])
		switch r.IntN(3) {
		case 0: // another member, or a broken end
			b = append(b[:len(b)-1], pick(r, tails)...)
		case 1: // a byte changed
			b[r.IntN(len(b))] = pick(r, canonicalPieces)[0]
		}
		got, gerr := Decode(b)
		want, werr := decodeTwice(b)
		if (gerr != nil) != (werr != nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n Decode %#v (%v)\nbefore %#v (%v)", b, got, gerr, want, werr)
		}
	}
}

// randomOffer returns an offer near the canonical form: optional members
// present or not, numbers and strings from the pieces that cross its
// edges, now and then a member out of place.
func randomOffer(r *rand.Rand) []byte {
	b := []byte(`{"type":"offer","transfer":"` + pick(r, stringPieces) + `"`)
	if r.IntN(3) == 0 {
		b = append(b, `,"to":"`+pick(r, stringPieces)+`"`...)
	}
	if r.IntN(3) == 0 {
		b = append(b, `,"to_identity":"`+pick(r, stringPieces)+`"`...)
	}
	if r.IntN(3) == 0 {
		b = append(b, `,"from":"`+pick(r, stringPieces)+`"`...)
	}
	if r.IntN(3) == 0 {
		b = append(b, `,"from_id":`+pick(r, numberPieces)...)
	}
	if r.IntN(3) == 0 {
		b = append(b, `,"from_identity":"`+pick(r, stringPieces)+`"`...)
	}
	b = append(b, `,"files":[`...)
	for i := range r.IntN(4) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"path":"`+pick(r, stringPieces)+`","size":`+pick(r, numberPieces)+
			`,"mode":`+pick(r, append(numberPieces, "4294967295", "4294967296", "420"))+`,"mtime":`+pick(r, numberPieces)...)
		if r.IntN(3) == 0 {
			b = append(b, pick(r, []string{`,"dir":true`, `,"dir":false`, `,"dir":1`})...)
		}
		if r.IntN(3) == 0 {
			b = append(b, `,"resume":"`+pick(r, stringPieces)+`"`...)
		}
		b = append(b, pick(r, []string{"}", "}", "}", ` }`, `,"x":1}`, `,"path":"b"}`})...)
	}
	b = append(b, pick(r, []string{"]}", "]}", "]}", "]", "]} ", `],"to":"x"}`, `]}}`})...)
	if r.IntN(8) == 0 {
		b[r.IntN(len(b))] = pick(r, canonicalPieces)[0]
	}
	return b
}

func TestCanonicalOfferReadsAsEncodingJSONDoes(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	matched := 0
	for range 200000 {
		b := randomOffer(r)
		if !utf8.Valid(b) {
			continue // Decode refuses it before it looks for the canonical form
		}
		got, ok := parseOffer(b)
		if !ok {
			continue
		}
		matched++
		want, err := decodeAs[Offer](b) // what Decode did before the canonical form
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\ncanonical     %#v\nencoding/json %#v (%v)", b, got, want, err)
		}
	}
	if matched < 1000 {
		t.Fatalf("only %d random messages were canonical offers", matched)
	}
}

func TestOffersRoundTripInTheCanonicalForm(t *testing.T) {
	for _, want := range []Offer{
		{Transfer: "5f0c", Files: []File{}},
		{Transfer: "5f0c", To: "bob", ToIdentity: "d75a98", From: "alice", FromID: 7, FromIdentity: "3d4017", Files: []File{
			{Path: "photos", Mode: 0o755, MTime: 1700000000123456789, Dir: true},
			{Path: "photos/été (1).jpg", Size: 3 << 20, Mode: 0o644, MTime: -1, Resume: "00112233445566778899aabbccddeeff"},
		}},
		{Transfer: "5f0c", Files: []File{{Path: "", Size: 1<<63 - 1, Mode: 1<<32 - 1}}},
	} {
		b, err := Encode(want)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseOffer(b)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: encoded %s, canonical form %v, read %+v", want, b, ok, got)
		}
	}
}

func FuzzCanonicalOffer(f *testing.F) {
	f.Add([]byte(`{"type":"offer","transfer":"5f0c","files":[{"path":"a","size":1,"mode":420,"mtime":2,"resume":"9c"}]}`))
	f.Add([]byte(`{"type":"offer","transfer":"5f0c","to":"bob","from_id":3,"files":[{"path":"d","size":0,"mode":493,"mtime":0,"dir":true}]}`))
	f.Add([]byte(`{"type":"offer","transfer":"5f0c","to":"bob","to_identity":"d75a","from":"al","from_id":3,"from_identity":"3d40","files":[]}`))
	f.Add([]byte(`{"type":"offer","transfer":"5f0c","files":[{},{"path":"a"}],"FILES":[{"size":3}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// The general path, which counts the entries before encoding/json
		// decodes them, decodes an offer under the limit as encoding/json
		// does (a fuzzer's input holds far fewer than MaxOfferFiles).
		want, err := decodeAs[Offer](b)
		if m, gerr := decodeOffer(b); (gerr != nil) != (err != nil) || !reflect.DeepEqual(m, want) {
			t.Fatalf("%q: counted %+v (%v), encoding/json %+v (%v)", b, m, gerr, want, err)
		}
		got, ok := parseOffer(b)
		if !ok || !utf8.Valid(b) {
			return
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: canonical %+v, encoding/json %+v (%v)", b, got, want, err)
		}
	})
}

// TestOfferThatOnlyLooksLongAllocatesLittle: an offer that is nothing but
// the starts of entries is refused having allocated less than three times
// its size (the copy of the list, and room for the entries it could hold);
// it reserved a File per "path" it counted, nine times its size, before.
func TestOfferThatOnlyLooksLongAllocatesLittle(t *testing.T) {
	b := []byte(`{"type":"offer","transfer":"t","files":[` + strings.Repeat(`{"path":"`, 100000))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, ok := parseOffer(b)
	runtime.ReadMemStats(&after)
	if ok {
		t.Fatal("parsed")
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 3*uint64(len(b)) {
		t.Fatalf("allocated %d bytes for a %d-byte message", got, len(b))
	}
}
