package termui

// The line editor: the keys a terminal in raw mode sends, decoded from
// its bytes, and the line being typed. Nothing here touches a terminal;
// screen.go draws the line and Input.Run feeds it.

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// keyKind is what a key does to the line.
type keyKind int

const (
	keyRune      keyKind = iota // insert key.r
	keyEnter                    // CR or LF: hand the line over
	keyBackspace                // DEL, Ctrl-H
	keyDelete                   // ESC[3~
	keyLeft                     // ESC[D, Ctrl-B
	keyRight                    // ESC[C, Ctrl-F
	keyHome                     // ESC[H, ESC[1~, Ctrl-A
	keyEnd                      // ESC[F, ESC[4~, Ctrl-E
	keyUp                       // ESC[A, Ctrl-P: the line sent before
	keyDown                     // ESC[B, Ctrl-N
	keyKillStart                // Ctrl-U: delete up to the cursor
	keyKillEnd                  // Ctrl-K: delete from the cursor on
	keyKillWord                 // Ctrl-W: delete the word before the cursor
	keyEOF                      // Ctrl-D
	keyInterrupt                // Ctrl-C
	keyRedraw                   // Ctrl-L
)

type key struct {
	kind keyKind
	r    rune // for keyRune
}

// controlKeys maps the control bytes the editor knows; any other control
// byte is dropped, so that none reaches the line (and from there a peer's
// terminal).
var controlKeys = map[byte]keyKind{
	0x01: keyHome, 0x02: keyLeft, 0x03: keyInterrupt, 0x04: keyEOF, 0x05: keyEnd,
	0x06: keyRight, 0x08: keyBackspace, 0x0b: keyKillEnd, 0x0c: keyRedraw,
	0x0d: keyEnter, 0x0a: keyEnter, 0x0e: keyDown, 0x10: keyUp, 0x15: keyKillStart,
	0x17: keyKillWord, 0x7f: keyBackspace,
}

// csiKeys maps the final byte of ESC [ X and ESC O X, and the number of
// ESC [ N ~, to keys; other sequences are read whole and dropped.
var (
	csiKeys   = map[byte]keyKind{'A': keyUp, 'B': keyDown, 'C': keyRight, 'D': keyLeft, 'H': keyHome, 'F': keyEnd}
	tildeKeys = map[string]keyKind{"1": keyHome, "7": keyHome, "4": keyEnd, "8": keyEnd, "3": keyDelete}
)

// maxSequence bounds an escape sequence kept across reads: a longer one is
// not a key this editor knows, and is dropped.
const maxSequence = 32

// keyDecoder turns the bytes a terminal in raw mode sends into keys. A
// key may come in pieces (a UTF-8 rune, an escape sequence split across
// two reads): the decoder keeps the unfinished tail for the next call.
// Input is the user's own keyboard, but a paste can hold anything, so
// bytes that are not text or a known key are dropped.
type keyDecoder struct{ tail []byte }

func (d *keyDecoder) decode(b []byte) []key {
	buf := append(d.tail, b...)
	d.tail = nil
	var keys []key
	for i := 0; i < len(buf); {
		c := buf[i]
		switch {
		case c == 0x1b:
			n, k, ok := escape(buf[i:])
			if n == 0 { // unfinished
				if len(buf)-i <= maxSequence {
					d.tail = append([]byte(nil), buf[i:]...)
				}
				return keys
			}
			if ok {
				keys = append(keys, k)
			}
			i += n
		case c < 0x20 || c == 0x7f:
			if kind, ok := controlKeys[c]; ok {
				keys = append(keys, key{kind: kind})
			}
			i++
		case c < utf8.RuneSelf:
			keys = append(keys, key{kind: keyRune, r: rune(c)})
			i++
		default:
			if !utf8.FullRune(buf[i:]) {
				d.tail = append([]byte(nil), buf[i:]...)
				return keys
			}
			r, n := utf8.DecodeRune(buf[i:])
			if r != utf8.RuneError && !Unsafe(r) {
				keys = append(keys, key{kind: keyRune, r: r})
			}
			i += n
		}
	}
	return keys
}

// escape reads the sequence at the start of b, which starts with ESC: its
// length (0 if b ends before it does) and the key it is, if one the
// editor knows. ESC before anything but [ or O is Alt with that key, read
// here as the key alone.
func escape(b []byte) (n int, k key, ok bool) {
	if len(b) < 2 {
		return 0, key{}, false
	}
	switch b[1] {
	case 'O':
		if len(b) < 3 {
			return 0, key{}, false
		}
		kind, ok := csiKeys[b[2]]
		return 3, key{kind: kind}, ok
	case '[':
		for j := 2; j < len(b); j++ {
			c := b[j]
			if c >= 0x40 && c <= 0x7e { // the final byte
				if c == '~' {
					kind, ok := tildeKeys[string(b[2:j])]
					return j + 1, key{kind: kind}, ok
				}
				kind, ok := csiKeys[c] // with modifiers (ESC[1;5C), as without
				return j + 1, key{kind: kind}, ok
			}
			if c < 0x20 || c > 0x3f { // not a parameter or intermediate byte: not a sequence
				return j, key{}, false
			}
		}
		return 0, key{}, false
	}
	return 1, key{}, false // drop ESC, read what follows as a key of its own
}

// editAction is what a key asks of the line editor's owner.
type editAction int

const (
	editNone      editAction = iota // nothing visible changed
	editChanged                     // redraw the prompt
	editLine                        // the line is done: hand it over
	editEOF                         // Ctrl-D on an empty line: end of input
	editInterrupt                   // Ctrl-C
	editRedraw                      // redraw everything
)

// maxHistory is how many sent lines Up and Down go back through.
const maxHistory = 100

// editor is the line being typed, as runes with a cursor, and the lines
// sent before it. The line never holds a control character (the decoder
// drops what Unsafe names), and never more than max bytes: keys past
// that are dropped.
type editor struct {
	max     int // bytes in the line at most; 0: no limit
	buf     []rune
	pos     int // cursor, in runes
	scroll  int // first rune shown, when the line is wider than the terminal
	history []string
	recall  int    // index into history while going through it; len(history) when not
	draft   string // the line being typed before Up
}

// apply edits the line by k; with editLine, line is the line typed.
func (e *editor) apply(k key) (act editAction, line string) {
	switch k.kind {
	case keyRune:
		// A rune is at most 4 bytes: count them only near the limit.
		if e.max > 0 && utf8.UTFMax*(len(e.buf)+1) > e.max && len(string(e.buf))+utf8.RuneLen(k.r) > e.max {
			return editNone, ""
		}
		e.buf = slices.Insert(e.buf, e.pos, k.r)
		e.pos++
	case keyEnter:
		line = string(e.buf)
		if line != "" && (len(e.history) == 0 || e.history[len(e.history)-1] != line) {
			e.history = append(e.history, line)
			if len(e.history) > maxHistory {
				e.history = e.history[1:]
			}
		}
		e.set("")
		e.recall = len(e.history)
		return editLine, line
	case keyBackspace:
		if e.pos == 0 {
			return editNone, ""
		}
		e.buf = append(e.buf[:e.pos-1], e.buf[e.pos:]...)
		e.pos--
	case keyDelete:
		if e.pos == len(e.buf) {
			return editNone, ""
		}
		e.buf = append(e.buf[:e.pos], e.buf[e.pos+1:]...)
	case keyEOF:
		if len(e.buf) == 0 {
			return editEOF, ""
		}
		return e.apply(key{kind: keyDelete})
	case keyInterrupt:
		return editInterrupt, ""
	case keyRedraw:
		return editRedraw, ""
	case keyLeft:
		e.pos = max(e.pos-1, 0)
	case keyRight:
		e.pos = min(e.pos+1, len(e.buf))
	case keyHome:
		e.pos = 0
	case keyEnd:
		e.pos = len(e.buf)
	case keyKillStart:
		e.buf = append([]rune(nil), e.buf[e.pos:]...)
		e.pos = 0
	case keyKillEnd:
		e.buf = e.buf[:e.pos]
	case keyKillWord:
		i := e.pos
		for i > 0 && unicode.IsSpace(e.buf[i-1]) {
			i--
		}
		for i > 0 && !unicode.IsSpace(e.buf[i-1]) {
			i--
		}
		e.buf = append(e.buf[:i], e.buf[e.pos:]...)
		e.pos = i
	case keyUp, keyDown:
		e.browse(k.kind == keyUp)
	}
	return editChanged, ""
}

// browse replaces the line with the one sent before (back) or after it
// in the history, keeping the line being typed to come back to.
func (e *editor) browse(back bool) {
	if e.recall > len(e.history) {
		e.recall = len(e.history)
	}
	switch {
	case back && e.recall > 0:
		if e.recall == len(e.history) {
			e.draft = string(e.buf)
		}
		e.recall--
		e.set(e.history[e.recall])
	case !back && e.recall < len(e.history):
		e.recall++
		if e.recall == len(e.history) {
			e.set(e.draft)
		} else {
			e.set(e.history[e.recall])
		}
	}
}

func (e *editor) set(s string) {
	e.buf = []rune(s)
	e.pos = len(e.buf)
	e.scroll = 0
}

// promptText is what the line being typed follows; scrolledPrompt
// replaces it when the start of the line is scrolled out of view.
const (
	promptText     = "> "
	scrolledPrompt = "…"
)

// view is the prompt row for a terminal cols columns wide: the prompt and
// as much of the line as fits, scrolled sideways so that the cursor shows,
// and the cursor's column. The row is at most cols-1 columns wide, so that
// the terminal never wraps it.
func (e *editor) view(cols int) (row string, cursor int) {
	room := max(cols-1-Width(promptText), 1) // for the line; the cursor may sit just after it
	if runesWidth(e.buf) < room {
		e.scroll = 0
	}
	e.scroll = min(e.scroll, e.pos)
	for e.scroll < e.pos && runesWidth(e.buf[e.scroll:e.pos]) >= room {
		e.scroll++
	}
	p := promptText
	if e.scroll > 0 {
		p = scrolledPrompt + strings.Repeat(" ", Width(promptText)-Width(scrolledPrompt))
	}
	var b strings.Builder
	b.WriteString(p)
	used := 0
	for i := e.scroll; i < len(e.buf); i++ {
		w := runeWidth(e.buf[i])
		if used+w > room {
			break
		}
		b.WriteRune(e.buf[i])
		used += w
	}
	return b.String(), Width(p) + runesWidth(e.buf[e.scroll:e.pos])
}
