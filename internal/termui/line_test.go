package termui

import (
	"slices"
	"strings"
	"testing"
)

func TestKeyDecoderReadsKeysSplitAcrossReads(t *testing.T) {
	r := func(c rune) key { return key{kind: keyRune, r: c} }
	k := func(kind keyKind) key { return key{kind: kind} }
	tests := []struct {
		name   string
		chunks []string
		want   []key
	}{
		{"ASCII and Enter", []string{"hi\r"}, []key{r('h'), r('i'), k(keyEnter)}},
		{"LF is Enter too", []string{"a\n"}, []key{r('a'), k(keyEnter)}},
		{"UTF-8 in one read", []string{"é日"}, []key{r('é'), r('日')}},
		{"UTF-8 split between reads", []string{"\xc3", "\xa9", "\xe6\x97", "\xa5"}, []key{r('é'), r('日')}},
		{"arrows, CSI and SS3", []string{"\x1b[D\x1b[C\x1bOH\x1bOF\x1b[A\x1b[B"},
			[]key{k(keyLeft), k(keyRight), k(keyHome), k(keyEnd), k(keyUp), k(keyDown)}},
		{"escape sequence split between reads", []string{"\x1b", "[", "3", "~x"}, []key{k(keyDelete), r('x')}},
		{"Home and End as numbers", []string{"\x1b[1~\x1b[4~\x1b[7~\x1b[8~"}, []key{k(keyHome), k(keyEnd), k(keyHome), k(keyEnd)}},
		{"arrow with a modifier is the arrow", []string{"\x1b[1;5D"}, []key{k(keyLeft)}},
		{"unknown sequences are dropped whole", []string{"\x1b[200~p\x1b[?25l\x1b[15~q"}, []key{r('p'), r('q')}},
		{"Alt-x is x", []string{"\x1bx"}, []key{r('x')}},
		{"editing controls", []string{"\x7f\x08\x15\x17\x0b\x01\x05\x02\x06\x04\x03\x0c"},
			[]key{k(keyBackspace), k(keyBackspace), k(keyKillStart), k(keyKillWord), k(keyKillEnd), k(keyHome),
				k(keyEnd), k(keyLeft), k(keyRight), k(keyEOF), k(keyInterrupt), k(keyRedraw)}},
		{"other controls, bidi overrides and bad UTF-8 are dropped", []string{"a\tb\x07c\x1a\u202ed\xffe"},
			[]key{r('a'), r('b'), r('c'), r('d'), r('e')}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d keyDecoder
			var got []key
			for _, c := range tt.chunks {
				got = append(got, d.decode([]byte(c))...)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("keys %v, want %v", got, tt.want)
			}
		})
	}
}

// typeInto feeds input to a new editor as a terminal would send it and
// returns the editor, the lines it handed over and its last action.
func typeInto(input string) (*editor, []string, editAction) {
	var d keyDecoder
	e := &editor{}
	var lines []string
	last := editNone
	for _, k := range d.decode([]byte(input)) {
		act, line := e.apply(k)
		if act == editLine {
			lines = append(lines, line)
		}
		last = act
	}
	return e, lines, last
}

func TestEditorEditsTheLine(t *testing.T) {
	tests := []struct {
		name  string
		input string
		line  string // left being typed
		pos   int    // cursor, in runes
		sent  []string
		last  editAction
	}{
		{"typing", "héllo", "héllo", 5, nil, editChanged},
		{"Enter sends and clears", "hi\rthere", "there", 5, []string{"hi"}, editChanged},
		{"Backspace", "helo\x7f\x7flp", "help", 4, nil, editChanged},
		{"Backspace at the start does nothing", "\x7f", "", 0, nil, editNone},
		{"insert after moving left", "ac\x1b[Db", "abc", 2, nil, editChanged},
		{"Home and End", "bc\x1b[Ha\x1b[Fd", "abcd", 4, nil, editChanged},
		{"Delete under the cursor", "abc\x01\x1b[3~", "bc", 0, nil, editChanged},
		{"Ctrl-U deletes up to the cursor", "hello world\x1b[D\x1b[D\x15", "ld", 0, nil, editChanged},
		{"Ctrl-K deletes from the cursor", "hello world\x01\x1b[C\x0b", "h", 1, nil, editChanged},
		{"Ctrl-W deletes the word before", "send a  file  \x17", "send a  ", 8, nil, editChanged},
		{"Ctrl-D on text deletes", "ab\x01\x04", "b", 0, nil, editChanged},
		{"Ctrl-D on an empty line ends input", "\x04", "", 0, nil, editEOF},
		{"Ctrl-C", "abc\x03", "abc", 3, nil, editInterrupt},
		{"Up recalls the line sent, Down the draft", "one\rtwo\rdraft\x1b[A\x1b[A", "one", 3, []string{"one", "two"}, editChanged},
		{"Down after Up comes back to the draft", "one\rdraft\x1b[A\x1b[B", "draft", 5, []string{"one"}, editChanged},
		{"an empty line is sent but not remembered", "\r\x1b[A", "", 0, []string{""}, editChanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, sent, last := typeInto(tt.input)
			if string(e.buf) != tt.line || e.pos != tt.pos || !slices.Equal(sent, tt.sent) || last != tt.last {
				t.Errorf("line %q at %d, sent %q, last action %d; want %q at %d, sent %q, %d",
					string(e.buf), e.pos, sent, last, tt.line, tt.pos, tt.sent, tt.last)
			}
		})
	}
}

func TestEditorStopsAtTheLongestLine(t *testing.T) {
	const longest = 16 << 10 // a chat line's, say
	var d keyDecoder
	e := &editor{max: longest}
	for _, k := range d.decode([]byte(strings.Repeat("é", longest))) { // two bytes each
		e.apply(k)
	}
	if n := len(string(e.buf)); n != longest {
		t.Errorf("line of %d bytes, want %d", n, longest)
	}
	if act, _ := e.apply(key{kind: keyRune, r: 'x'}); act != editNone {
		t.Errorf("a key past the limit: action %d, want none", act)
	}
}

func TestEditorViewScrollsToKeepTheCursorShown(t *testing.T) {
	tests := []struct {
		name   string
		input  string
		cols   int
		row    string
		cursor int
	}{
		{"short line", "hello", 20, "> hello", 7},
		{"cursor moved left", "hello\x1b[D\x1b[D", 20, "> hello", 5},
		// 20 columns: the row takes at most 19, the prompt 2, and the line
		// 16 with the cursor's cell after it.
		{"long line shows its end", "abcdefghijklmnopqrstuvwxyz", 20, "… klmnopqrstuvwxyz", 18},
		{"back at the start shows the start", "abcdefghijklmnopqrstuvwxyz\x01", 20, "> abcdefghijklmnopq", 2},
		{"wide runes count two columns", "日本語", 20, "> 日本語", 8},
		{"a wide rune is not cut in half", "日本語日本語日本語日本語", 12, "… 語日本語", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, _ := typeInto(tt.input)
			row, cursor := e.view(tt.cols)
			if row != tt.row || cursor != tt.cursor {
				t.Errorf("view(%d) = %q, cursor %d; want %q, %d", tt.cols, row, cursor, tt.row, tt.cursor)
			}
			if w := Width(row); w >= tt.cols {
				t.Errorf("row %q is %d columns, want fewer than %d", row, w, tt.cols)
			}
		})
	}
}
