package mux

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// fixedKey is a key of known bytes, so that what its checksum catches does
// not depend on chance.
func fixedKey() Key {
	b := make([]byte, keyBytes)
	for i := range b {
		b[i] = byte(i * 37)
	}
	return Key{b: b}
}

// TestMistypedKeyIsToldApart: every letter of a key left out, doubled or
// changed to another makes ParseKey say that the key is mistyped, rather
// than read another key that the hub would refuse as a stranger's.
func TestMistypedKeyIsToldApart(t *testing.T) {
	text := fixedKey().Text()
	if !strings.HasPrefix(text, "mxk2.") || len(text) != len("mxk2.")+56 {
		t.Fatalf("Text() = %q, want mxk2. and 56 letters", text)
	}
	body := text[len(keyPrefix):]
	const letters = "abcdefghijklmnopqrstuvwxyz234567"
	var typos []string
	for i := range body {
		typos = append(typos, body[:i]+body[i+1:], body[:i+1]+body[i:])
		for _, c := range letters {
			if byte(c) != body[i] {
				typos = append(typos, body[:i]+string(c)+body[i+1:])
			}
		}
	}
	typos = append(typos, body[:10]+"1"+body[11:], body[:55]+"8")
	for _, typo := range typos {
		_, err := ParseKey(keyPrefix + typo)
		if !errors.Is(err, ErrKeyMistyped) || !strings.Contains(err.Error(), "the key is mistyped: its checksum does not match") {
			t.Fatalf("ParseKey(%q) = %v, want it mistyped", keyPrefix+typo, err)
		}
	}
}

// TestKeyFormsRoundTrip: a new key is written mxk2. and read back; a key
// read in the old mxk1. form (no checksum) is the same key, and keeps
// its form.
func TestKeyFormsRoundTrip(t *testing.T) {
	k := fixedKey()
	old := keyPrefixV1 + strings.ToLower(keyEncoding.EncodeToString(k.b))
	for _, in := range []string{k.Text(), " " + strings.ToUpper(k.Text()) + "\n", old} {
		got, err := ParseKey(in)
		if err != nil || !bytes.Equal(got.b, k.b) {
			t.Errorf("ParseKey(%q) = %x, %v; want %x", in, got.b, err, k.b)
		}
	}
	if got, _ := ParseKey(old); got.Text() != old || got.String() != "mxk1.[redacted]" {
		t.Errorf("an mxk1. key is written back as %q (%s), want %q", got.Text(), got, old)
	}
	if k.String() != "mxk2.[redacted]" {
		t.Errorf("String() = %q, want the key hidden", k)
	}
}

// FuzzParseKey: whatever the text, ParseKey does not panic, and a key it
// accepts has enough bits and reads back the same from its Text.
func FuzzParseKey(f *testing.F) {
	f.Add(fixedKey().Text())
	f.Add("mxk1.aaaaaaaaaaaaaaaaaaaaaaaaaa")
	f.Add("MXK2.")
	f.Add("mxk2.!!!!")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err != nil {
			return
		}
		if len(k.b)*8 < MinKeyBits {
			t.Fatalf("ParseKey(%q) took a key of %d bits", s, len(k.b)*8)
		}
		again, err := ParseKey(k.Text())
		if err != nil || !bytes.Equal(again.b, k.b) || again.Text() != k.Text() {
			t.Fatalf("ParseKey(%q).Text() = %q reads back as %x, %v", s, k.Text(), again.b, err)
		}
	})
}

// TestParseKeyRefusesLineBreaksInside: base32 skips line breaks, so a key
// with some in place of letters has the right length and decodes short;
// it is refused as mistyped (the fuzzer found it panicking).
func TestParseKeyRefusesLineBreaksInside(t *testing.T) {
	text := NewKey().Text()
	broken := text[:20] + "\n\r\n" + text[23:]
	if _, err := ParseKey(broken); !errors.Is(err, ErrKeyMistyped) || !strings.Contains(err.Error(), "line break") {
		t.Errorf("ParseKey(%q): %v", broken, err)
	}
}
