package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

// listOfEmpties returns prefix, then as many {} as fit, separated by sep,
// then suffix: a message of MaxControlFrame bytes, the most a frame holds.
func listOfEmpties(prefix, sep, suffix string) []byte {
	n := (MaxControlFrame - len(prefix) - len(suffix) + len(sep)) / (2 + len(sep))
	return []byte(prefix + strings.Repeat("{}"+sep, n-1) + "{}" + suffix)
}

// offerOfEntries returns the canonical form of an offer of n entries.
func offerOfEntries(t testing.TB, n int) []byte {
	files := make([]File, n)
	for i := range files {
		files[i] = File{Path: fmt.Sprint(i), Size: 1}
	}
	b, err := Encode(Offer{Transfer: "t", Files: files})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// overLimit holds messages whose lists are longer than MaxOfferFiles.
func overLimit(t testing.TB) []struct {
	name string
	msg  []byte
} {
	return []struct {
		name string
		msg  []byte
	}{
		// The canonical parser's prefix, then what only encoding/json reads.
		{"offer of 1 MiB of {}", listOfEmpties(`{"type":"offer","transfer":"t","files":[`, ",", "]}")},
		// No canonical prefix, not even the type first: the general path.
		{"offer of 1 MiB of {} spaced, files first", listOfEmpties(`{ "files" : [ `, " , ", ` ], "type": "offer", "transfer": "t" }`)},
		{"offer of 1 MiB of {} in a list of another case", listOfEmpties(`{"type":"offer","transfer":"t","FILES":[`, ",", "]}")},
		// A hub decodes recipients' accepts too.
		{"accept of 1 MiB of {}", listOfEmpties(`{"type":"accept","transfer":"t","have":[`, ",", "]}")},
		// Longer than a frame, which Decode alone does not bound.
		{"canonical offer of MaxOfferFiles+1 entries", offerOfEntries(t, MaxOfferFiles+1)},
	}
}

// An offer frame of 1 MiB of empty entries held about 350,000 Files, some
// 22 MiB and 136 MiB allocated along the way, before anything counted
// them. Decode now refuses a list over the limit having decoded none of
// it, whatever the form.
func TestDecodeRefusesListOverLimitAllocatingLittle(t *testing.T) {
	const maxBytes = 256 << 10 // the old code allocated 86 to 136 MiB for these
	for _, tt := range overLimit(t) {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.msg)
			if !errors.Is(err, ErrTooManyFiles) || !strings.Contains(err.Error(), fmt.Sprint(MaxOfferFiles)) {
				t.Fatalf("Decode = %T, %v; want ErrTooManyFiles naming the limit %d", m, err, MaxOfferFiles)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			Decode(tt.msg)
			runtime.ReadMemStats(&after)
			got := after.TotalAlloc - before.TotalAlloc
			if got > maxBytes {
				t.Errorf("refusing %d bytes allocated %d bytes, limit %d", len(tt.msg), got, maxBytes)
			}
			allocs := testing.AllocsPerRun(1, func() { Decode(tt.msg) })
			if allocs > 100 {
				t.Errorf("refusing %d bytes made %.0f allocations", len(tt.msg), allocs)
			}
			t.Logf("refused %d bytes: %d bytes in %.0f allocations", len(tt.msg), got, allocs)
		})
	}
}

func TestReadMessageRefusesOfferOverLimit(t *testing.T) {
	var frame bytes.Buffer
	if err := WriteFrame(&frame, listOfEmpties(`{"type":"offer","transfer":"t","files":[`, ",", "]}")); err != nil {
		t.Fatal(err)
	}
	if m, err := ReadMessage(&frame); !errors.Is(err, ErrTooManyFiles) {
		t.Fatalf("ReadMessage = %T, %v; want ErrTooManyFiles", m, err)
	}
}

// An offer of exactly MaxOfferFiles entries is an offer like any other,
// in either form.
func TestDecodeAcceptsOfferOfMaxOfferFiles(t *testing.T) {
	canonical := offerOfEntries(t, MaxOfferFiles)
	spaced := bytes.ReplaceAll(canonical, []byte(","), []byte(", ")) // no path holds a comma
	want, err := Decode(canonical)
	if err != nil {
		t.Fatalf("Decode(canonical form): %v", err)
	}
	if o := want.(Offer); len(o.Files) != MaxOfferFiles {
		t.Fatalf("decoded %d entries, want %d", len(o.Files), MaxOfferFiles)
	}
	got, err := Decode(spaced)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode(spaced form) = %v; want the canonical form's offer", err)
	}
	empties := listOfEmpties(`{"type":"offer","transfer":"t","files":[`, ",", "]}")
	atLimit := append(bytes.Clone(empties[:bytes.Index(empties, []byte("{},{}"))+3*MaxOfferFiles-1]), "]}"...)
	if m, err := Decode(atLimit); err != nil || len(m.(Offer).Files) != MaxOfferFiles {
		t.Fatalf("Decode(%d empty entries) = %v", MaxOfferFiles, err)
	}
}

func TestCountElementsCountsTheTopLevelOfAnArray(t *testing.T) {
	tests := []struct {
		json  string
		limit int
		want  int
	}{
		{`[]`, 10, 0},
		{` [ ] `, 10, 0},
		{`[1]`, 10, 1},
		{"[\n1 ,\t2\r]", 10, 2},
		{`[[1,2],{"a":[3,4],"b":{}}]`, 10, 2},
		{`["a,b","c\"],[","\\",1]`, 10, 4},
		{`[{},{},{}]`, 3, 3},
		{`[{},{},{},{}]`, 3, 4}, // limit+1: more than the limit
		{`[{},{},{},{},{},{}]`, 3, 4},
		{`null`, 10, 0},
		{`{"a":[1,2]}`, 10, 0},
		{`"[1,2]"`, 10, 0},
		{`5`, 10, 0},
	}
	for _, tt := range tests {
		if got := countElements([]byte(tt.json), tt.limit); got != tt.want {
			t.Errorf("countElements(%s, %d) = %d, want %d", tt.json, tt.limit, got, tt.want)
		}
	}
}

// decodeAcceptAsBefore is decodeAccept without the count, as it was.
func decodeAcceptAsBefore(b []byte) (Message, error) {
	var a Accept
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, err
	}
	if len(a.Have) == 0 {
		a.Have = nil
	}
	return a, nil
}

// Under the limit, counting changes nothing: the lists decode as
// encoding/json decoded them, also when given twice (encoding/json decodes
// the second into the first's elements), null, of another kind, or in
// another case.
func TestBoundedListsDecodeAsEncodingJSONDoes(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	offerTails := []string{
		`,"files":[{"path":"b","size":2}]}`, `,"files":[]}`, `,"files":null}`, `,"Files":[{"mode":1},{"path":"c"}]}`,
		`,"files":5}`, `,"files":{}}`, `,"files":[1]}`, `,"files":[{"size":"x"}]}`, `,"fileſ":[{"path":"k"}]}`,
	}
	haves := []string{
		`{"type":"accept","transfer":"t"`, `{"type":"accept","transfer":"t","have":[]`,
		`{"type":"accept","have":[{"file":1,"offset":2,"hash":"h"},{}]`, `{"type":"accept","have":null`,
		`{"type":"accept","have":[{"file":"x"}]`, `{"type":"accept","have":7`, `{"type":"accept","HAVE":[{"file":3}]`,
	}
	for range 20000 {
		b := randomOffer(r)
		if r.IntN(2) == 0 && bytes.HasSuffix(b, []byte("}")) {
			b = append(b[:len(b)-1], pick(r, offerTails)...)
		}
		got, gerr := decodeOffer(b)
		want, werr := decodeAs[Offer](b)
		if (gerr != nil) != (werr != nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\ncounted       %#v (%v)\nencoding/json %#v (%v)", b, got, gerr, want, werr)
		}

		a := []byte(pick(r, haves) + pick(r, []string{`}`, `,"have":[{"file":9}]}`, `,"have":null}`, `,"have":[]}`}))
		if !utf8.Valid(a) {
			continue
		}
		got, gerr = decodeAccept(a)
		want, werr = decodeAcceptAsBefore(a)
		if (gerr != nil) != (werr != nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\ncounted       %#v (%v)\nencoding/json %#v (%v)", a, got, gerr, want, werr)
		}
	}
}

func TestDecodeBoundsListingsAndGets(t *testing.T) {
	many := func(n int, item string) string {
		return "[" + strings.Repeat(item+",", n-1) + item + "]"
	}
	tests := []struct {
		name string
		msg  string
		ok   bool
	}{
		{"listing at the bound", `{"type":"listing","id":"x","entries":` + many(MaxListingEntries, `{"path":"a","size":1,"mode":420,"mtime":0}`) + `}`, true},
		{"listing over the bound", `{"type":"listing","id":"x","entries":` + many(MaxListingEntries+1, `{}`) + `}`, false},
		{"get at the bound", `{"type":"get","id":"x","paths":` + many(MaxGetPaths, `"a"`) + `}`, true},
		{"get over the bound", `{"type":"get","id":"x","paths":` + many(MaxGetPaths+1, `""`) + `}`, false},
		{"lookup over the bound", `{"type":"lookup","id":"x","names":` + many(MaxHoldRecipients+1, `""`) + `}`, false},
		{"held offer over the bound", `{"type":"offer","transfer":"t","hold":{"id":"x","to":` + many(MaxHoldRecipients+1, `{}`) + `},"files":[]}`, false},
		{"held offer at the bound", `{"type":"offer","transfer":"t","hold":{"id":"x","to":` + many(MaxHoldRecipients, `{}`) + `},"files":[]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.msg))
			if tt.ok {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrTooManyFiles) {
				t.Fatalf("Decode = %T, %v; want ErrTooManyFiles", m, err)
			}
		})
	}
}
