package termui

// Text that reaches a terminal can act on it: ESC ] 0 ; sets the window
// title, ESC [ 2 J clears the screen, a newline starts a line that can
// pass for another, and some characters hide or reverse the text around
// them on any screen. Escape makes any text safe to show; the line
// editor drops such characters from what is typed (Unsafe).

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Escape returns s with every character that Unsafe names, and every
// byte that is not UTF-8, replaced by a visible escape: \xNN below U+0100
// (\x1b for ESC, \x0a for a newline) and for a stray byte, \uNNNN up to
// U+FFFF (\u202e for a right-to-left override), \UNNNNNNNN above (a tag
// letter). Its result holds no character that a terminal acts on or that
// hides, so it is one line; and Escape of it is itself.
//
//	Escape("hi\n<alice> paste your key") == `hi\x0a<alice> paste your key`
func Escape(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !Unsafe(r):
			b.WriteString(s[i : i+n])
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += n
	}
	return b.String()
}

// needsEscape reports whether Escape would change s.
func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f { // printable ASCII, the common case
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || Unsafe(r) {
			return true
		}
		i += n
	}
	return false
}

// Unsafe reports whether r must not reach a screen as it is: it is a
// control character, which a terminal acts on, or it changes or hides
// what is drawn around it without a glyph of its own:
//   - C0 controls (newline, CR, ESC, BEL...), DEL, and C1 controls (CSI
//     U+009B, NEL U+0085...);
//   - format characters (Unicode category Cf): the bidirectional controls
//     (U+061C, U+200E-200F, U+202A-202E, U+2066-2069), zero-width space,
//     non-joiner and joiner (U+200B-200D), word joiner and the invisible
//     operators (U+2060-2064), the soft hyphen U+00AD, the byte order
//     mark U+FEFF, the tag characters (U+E0001, U+E0020-E007F) and the
//     rest of Cf;
//   - the line and paragraph separators U+2028 and U+2029, which some
//     programs break a line at;
//   - the rest of the tag block U+E0000-E007F, unassigned today;
//   - characters that are letters or marks on paper but draw nothing:
//     the Hangul fillers U+115F, U+1160, U+3164, U+FFA0, the combining
//     grapheme joiner U+034F, the Khmer inherent vowels U+17B4 and U+17B5,
//     and the musical null notehead U+1D159.
//
// Variation selectors (U+FE0F turns ❤ into the emoji) and the spaces
// (U+00A0, U+3000...) stay: they change how a visible character looks,
// or show as the blank they are.
func Unsafe(r rune) bool {
	switch {
	case r < 0x20 || r >= 0x7f && r < 0xa0:
		return true
	case r < 0xa0:
		return false
	case r >= 0xe0000 && r <= 0xe007f:
		return true
	}
	switch r {
	case 0x2028, 0x2029, // Zl and Zp, one character each
		0x034f, 0x115f, 0x1160, 0x17b4, 0x17b5, 0x3164, 0xffa0, 0x1d159:
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

// EscapeJSON returns the encoded JSON text s with every character that
// Unsafe names and that the encoder left as it is (DEL, C1 controls,
// bidirectional controls, invisible characters) written as a \uXXXX
// escape, a pair of them (UTF-16 surrogates) above U+FFFF. A JSON
// decoder reads the same values from it, and a program that prints the
// text as it is shows no reversed or hidden text:
//
//	{"text":"a<U+202E>b"}  becomes  {"text":"a\u202eb"}
//
// Such characters can only stand inside strings in valid JSON, where an
// escape means the character itself. s comes from encoding/json, which
// escapes the C0 controls and replaces invalid UTF-8.
func EscapeJSON(s string) string {
	if Escape(s) == s { // nothing to escape: Escape returns s itself
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for _, r := range s {
		switch {
		case r < 0x7f || !Unsafe(r):
			b.WriteRune(r)
		case r >= 0x10000:
			hi, lo := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, hi, lo)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}
