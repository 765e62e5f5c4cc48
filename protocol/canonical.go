package protocol

import (
	"bytes"
	"strconv"
)

// Every file costs a data header, a trailer and a result on each end, and
// for 5,000 files of 4 KiB encoding/json's reflection on them was about a
// tenth of a hub's CPU and of a sender's. These messages (a result when it
// reports success) are therefore written, and read, in one canonical form:
//
//	{"transfer":"5f0c…","file":2,"offset":0}
//	{"hash":"xxh3-128:9c1e…"}
//	{"type":"result","transfer":"5f0c…","file":2,"hash":"xxh3-128:9c1e…","stored":"photos/a.jpg"}
//
// keys in this order, no spaces, strings of printable ASCII without quotes
// or backslashes, integers without leading zeros. The writer falls back to
// encoding/json for a string outside that set; the reader takes anything
// else (other spacing or order, escapes, a peer's own encoder) to
// encoding/json, so the canonical form is a shortcut and not a rule: the
// wire format is JSON as before, and both paths give the same result for
// every input (canonical_test.go checks that on random inputs).

// typeFirst returns the type of a message that starts as Encode writes
// it, {"type":"offer",…, and has no other member whose name encoding/json
// could read as "type" (in any case, or escaped); ok is false otherwise.
// Decode then decodes the message once instead of twice (its type, then
// the rest): for an offer of 5,000 files, a hub spent 27 ms decoding
// before it could answer, while the sender waited.
func typeFirst(b []byte) (typ string, ok bool) {
	s, rest, ok := cutString(b, `{"type":"`)
	if !ok || bytes.IndexByte(rest, '\\') >= 0 {
		return "", false
	}
	for i := 0; i+4 <= len(rest); i++ {
		if (rest[i] == 't' || rest[i] == 'T') && bytes.EqualFold(rest[i:i+4], []byte("type")) {
			return "", false
		}
	}
	return string(s), true
}

// plainString reports whether s goes into JSON as it is, between quotes.
func plainString(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendHeader appends h in the canonical form, or reports false if its
// transfer ID is not a plain string.
func appendHeader(b []byte, h DataHeader) ([]byte, bool) {
	if !plainString([]byte(h.Transfer)) {
		return b, false
	}
	b = append(b, `{"transfer":"`...)
	b = append(b, h.Transfer...)
	b = append(b, `","file":`...)
	b = strconv.AppendInt(b, int64(h.File), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, h.Offset, 10)
	return append(b, '}'), true
}

// appendTrailer is appendHeader for a trailer.
func appendTrailer(b []byte, t Trailer) ([]byte, bool) {
	if !plainString([]byte(t.Hash)) {
		return b, false
	}
	b = append(b, `{"hash":"`...)
	b = append(b, t.Hash...)
	return append(b, `"}`...), true
}

// appendResult appends r in the canonical form, or reports false if it
// is not a success (hash and stored given, no error) of plain strings.
func appendResult(b []byte, r Result) ([]byte, bool) {
	if r.Error != "" || r.Code != "" || r.Hash == "" || r.Stored == "" ||
		!plainString([]byte(r.Transfer)) || !plainString([]byte(r.Hash)) || !plainString([]byte(r.Stored)) {
		return b, false
	}
	b = append(b, `{"type":"result","transfer":"`...)
	b = append(b, r.Transfer...)
	b = append(b, `","file":`...)
	b = strconv.AppendInt(b, int64(r.File), 10)
	b = append(b, `,"hash":"`...)
	b = append(b, r.Hash...)
	b = append(b, `","stored":"`...)
	b = append(b, r.Stored...)
	return append(b, `"}`...), true
}

// parseResult reads a result in the canonical form; ok is false for
// anything else.
func parseResult(b []byte) (r Result, ok bool) {
	var transfer, hash, stored []byte
	if transfer, b, ok = cutString(b, `{"type":"result","transfer":"`); !ok {
		return r, false
	}
	file, b, ok := cutInt(b, `,"file":`, strconv.IntSize)
	if !ok {
		return r, false
	}
	if hash, b, ok = cutString(b, `,"hash":"`); !ok {
		return r, false
	}
	if stored, b, ok = cutString(b, `,"stored":"`); !ok || string(b) != "}" {
		return r, false
	}
	return Result{Transfer: string(transfer), File: int(file), Hash: string(hash), Stored: string(stored)}, true
}

// parseHeader reads a header in the canonical form; ok is false for
// anything else.
func parseHeader(b []byte) (h DataHeader, ok bool) {
	var s []byte
	if s, b, ok = cutString(b, `{"transfer":"`); !ok {
		return h, false
	}
	file, b, ok := cutInt(b, `,"file":`, strconv.IntSize)
	if !ok {
		return h, false
	}
	offset, b, ok := cutInt(b, `,"offset":`, 64)
	if !ok || string(b) != "}" {
		return h, false
	}
	return DataHeader{Transfer: string(s), File: int(file), Offset: offset}, true
}

// parseTrailer is parseHeader for a trailer.
func parseTrailer(b []byte) (t Trailer, ok bool) {
	s, b, ok := cutString(b, `{"hash":"`)
	if !ok || string(b) != "}" {
		return t, false
	}
	return Trailer{Hash: string(s)}, true
}

// cutString takes prefix (ending in an opening quote) and a plain string
// with its closing quote off the front of b.
func cutString(b []byte, prefix string) (s, rest []byte, ok bool) {
	b, ok = bytes.CutPrefix(b, []byte(prefix))
	if !ok {
		return nil, nil, false
	}
	end := bytes.IndexByte(b, '"')
	if end < 0 || !plainString(b[:end]) {
		return nil, nil, false
	}
	return b[:end], b[end+1:], true
}

// cutInt takes prefix and a JSON integer that fits in bits off the front
// of b.
func cutInt(b []byte, prefix string, bits int) (n int64, rest []byte, ok bool) {
	b, ok = bytes.CutPrefix(b, []byte(prefix))
	if !ok {
		return 0, nil, false
	}
	end := 0
	if end < len(b) && b[end] == '-' {
		end++
	}
	digits := end
	for end < len(b) && '0' <= b[end] && b[end] <= '9' {
		end++
	}
	if end == digits || b[digits] == '0' && end > digits+1 {
		return 0, nil, false // no digits, or a leading zero
	}
	n, err := strconv.ParseInt(string(b[:end]), 10, bits)
	return n, b[end:], err == nil
}
