package main

// Nearly every line muxfer prints holds something a peer chose: a chat
// line, a name, a file name, a reject reason, a hub's notice, an error
// that quotes one of those. A terminal obeys what is in them (ESC ] 0 ;
// sets the window title, ESC [ 2 J clears the screen, a newline starts a
// line that can pass for someone else's), and some characters hide or
// reverse text on any screen. So nothing relies on its caller to clean
// what it prints: every line goes out through the ui's one printing path,
// ui.printLocked, which applies safe to it; a JSON line has had those
// characters escaped as \uXXXX (safeJSON) first; and the last error line,
// main.go's printError, goes through safe too. Letters of every script
// are left alone: a Cyrillic or Japanese message prints as written. What
// is escaped, and how, is the terminal's business: termui.Escape.

import (
	"fmt"
	"strings"
	"unicode/utf16"

	"github.com/muxfer/muxfer/internal/termui"
)

// safe is termui.Escape: s with every character that a terminal acts on,
// or that hides text, shown as a visible escape.
func safe(s string) string { return termui.Escape(s) }

// safeJSON returns the encoded JSON text s with every character that
// termui.Unsafe names and that the encoder left as it is (DEL, C1 controls,
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
func safeJSON(s string) string {
	if termui.Escape(s) == s { // nothing to escape: Escape returns s itself
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for _, r := range s {
		switch {
		case r < 0x7f || !termui.Unsafe(r):
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
