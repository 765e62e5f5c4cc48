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
// transfer ID is not a plain string or it opens a channel.
func appendHeader(b []byte, h DataHeader) ([]byte, bool) {
	if !plainString([]byte(h.Transfer)) || h.To != "" || h.ToIdentity != "" || h.From != "" || h.FromID != 0 || h.FromIdentity != "" {
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
	if end-digits < 19 && bits == 64 { // cannot overflow: spare ParseInt's copy
		for _, c := range b[digits:end] {
			n = n*10 + int64(c-'0')
		}
		if digits > 0 {
			n = -n
		}
		return n, b[end:], true
	}
	n, err := strconv.ParseInt(string(b[:end]), 10, bits)
	return n, b[end:], err == nil
}

// parseOffer reads an offer as Encode writes it,
//
//	{"type":"offer","transfer":"5f0c…","files":[{"path":"a/b.txt","size":3,"mode":420,"mtime":1700000000000000000,"resume":"9c1e…"},…]}
//
// with to, to_identity, from, from_id and from_identity (in that order,
// after transfer) and dir and
// resume when they are set, and at most MaxOfferFiles entries; ok is false
// for anything else, which the general path reads (or refuses with
// ErrTooManyFiles, having decoded nothing). Its strings may
// hold any byte but control characters, quotes and backslashes: Decode
// has checked that the whole message is UTF-8, and encoding/json takes
// such a string as it is. A hub decoded an offer of 5,000 files in about
// 11 ms with encoding/json, while the sender waited for its answer.
func parseOffer(b []byte) (o Offer, ok bool) {
	if !bytes.HasPrefix(b, []byte(`{"type":"offer",`)) {
		return o, false
	}
	var s []byte
	if s, b, ok = cutText(b, `{"type":"offer","transfer":"`); !ok {
		return o, false
	}
	// The transfer ID and the names may outlive the offer (a hub keeps
	// the IDs of relays that ended), so each is a copy of its own.
	o.Transfer = string(s)
	if s, rest, ok := cutText(b, `,"to":"`); ok {
		o.To, b = string(s), rest
	}
	if s, rest, ok := cutText(b, `,"to_identity":"`); ok {
		o.ToIdentity, b = string(s), rest
	}
	if s, rest, ok := cutText(b, `,"from":"`); ok {
		o.From, b = string(s), rest
	}
	if n, rest, ok := cutUint(b, `,"from_id":`, 63); ok {
		o.FromID, b = n, rest
	}
	if s, rest, ok := cutText(b, `,"from_identity":"`); ok {
		o.FromIdentity, b = string(s), rest
	}
	if s, rest, ok := cutText(b, `,"get":"`); ok {
		o.Get, b = string(s), rest
	}
	if b, ok = bytes.CutPrefix(b, []byte(`,"files":[`)); !ok {
		return o, false
	}
	// Every entry starts with {"path":" and no string of this form holds
	// a quote, so there are at most n entries: the list is bounded before
	// any of it is copied or decoded, and n bounds the loop below.
	n := bytes.Count(b, []byte(`{"path":"`))
	switch {
	case n > MaxOfferFiles:
		return o, false
	case n == 0: // an empty list, or not this form: nothing to copy
		o.Files = []File{}
		return o, string(b) == "]}"
	}
	// The paths and tokens, which live as long as the transfer, are cut
	// from one copy of the list: one allocation instead of one per path.
	all, end := string(b), cap(b)
	str := func(s []byte) string {
		if len(s) == 0 {
			return ""
		}
		i := end - cap(s) // s is a part of b
		return all[i : i+len(s)]
	}
	// The shortest entry, {"path":"","size":0,"mode":0,"mtime":0} and its
	// comma, takes 40 bytes: a list that only looks long reserves no more.
	o.Files = make([]File, 0, min(n, len(b)/40))
	for len(b) > 0 && b[0] != ']' {
		if len(o.Files) > 0 {
			if b, ok = bytes.CutPrefix(b, []byte(",")); !ok {
				return o, false
			}
		}
		var f File
		var path, resume []byte
		if f, path, resume, b, ok = cutFile(b); !ok {
			return o, false
		}
		f.Path, f.Resume = str(path), str(resume)
		o.Files = append(o.Files, f)
	}
	return o, string(b) == "]}"
}

// cutFile takes one entry of an offer's files off the front of b, all but
// its strings, which it returns as they are in b.
func cutFile(b []byte) (f File, path, resume, rest []byte, ok bool) {
	if path, b, ok = cutText(b, `{"path":"`); !ok {
		return f, nil, nil, nil, false
	}
	if f.Size, b, ok = cutInt(b, `,"size":`, 64); !ok {
		return f, nil, nil, nil, false
	}
	mode, b, ok := cutUint(b, `,"mode":`, 32)
	if !ok {
		return f, nil, nil, nil, false
	}
	f.Mode = uint32(mode)
	if f.MTime, b, ok = cutInt(b, `,"mtime":`, 64); !ok {
		return f, nil, nil, nil, false
	}
	if r, ok := bytes.CutPrefix(b, []byte(`,"dir":true`)); ok {
		f.Dir, b = true, r
	}
	if s, r, ok := cutText(b, `,"resume":"`); ok {
		resume, b = s, r
	}
	b, ok = bytes.CutPrefix(b, []byte("}"))
	return f, path, resume, b, ok
}

// cutUint is cutInt for a number without a sign that fits in bits (at
// most 63). Larger numbers of 64 bits are left to encoding/json.
func cutUint(b []byte, prefix string, bits int) (n uint64, rest []byte, ok bool) {
	b, ok = bytes.CutPrefix(b, []byte(prefix))
	if !ok || len(b) > 0 && b[0] == '-' {
		return 0, nil, false
	}
	v, rest, ok := cutInt(b, "", 64)
	if !ok || uint64(v) >= 1<<bits {
		return 0, nil, false
	}
	return uint64(v), rest, true
}

// cutText is cutString for a string that may hold any byte but control
// characters, quotes and backslashes, for a message known to be UTF-8.
func cutText(b []byte, prefix string) (s, rest []byte, ok bool) {
	b, ok = bytes.CutPrefix(b, []byte(prefix))
	if !ok {
		return nil, nil, false
	}
	for i, c := range b {
		switch {
		case c == '"':
			return b[:i], b[i+1:], true
		case c < 0x20 || c == '\\':
			return nil, nil, false
		}
	}
	return nil, nil, false
}
