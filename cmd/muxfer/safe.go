package main

// Nearly every line muxfer prints holds something a peer chose: a chat
// line, a name, a file name, a reject reason, a hub's notice, an error
// that quotes one of those. A terminal obeys what is in them (ESC ] 0 ;
// sets the window title, ESC [ 2 J clears the screen, a newline starts a
// line that can pass for someone else's), and some characters hide or
// reverse text on any screen. So nothing relies on its caller to clean
// what it prints: every line goes out through the ui's one printing path,
// ui.printLocked, which applies safe to it; a JSON line has had those
// characters escaped as \uXXXX (termui.EscapeJSON) first; and the last error line,
// main.go's printError, goes through safe too. Letters of every script
// are left alone: a Cyrillic or Japanese message prints as written. What
// is escaped, and how, is the terminal's business: termui.Escape.

import (
	"github.com/muxfer/muxfer/internal/termui"
)

// safe is termui.Escape: s with every character that a terminal acts on,
// or that hides text, shown as a visible escape.
func safe(s string) string { return termui.Escape(s) }
