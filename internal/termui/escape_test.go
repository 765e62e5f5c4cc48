package termui

import "testing"

// TestEscapeShowsControlAndInvisibleCharactersEscaped: every character
// that a terminal acts on, or that hides or reverses text, comes out as
// a visible escape, one class of them a row.
func TestEscapeShowsControlAndInvisibleCharactersEscaped(t *testing.T) {
	tests := []struct {
		class, in, want string
	}{
		{"C0: newline", "a\nb", `a\x0ab`},
		{"C0: carriage return", "a\rb", `a\x0db`},
		{"C0: NUL, tab, BEL, ESC", "\x00\t\a\x1b", `\x00\x09\x07\x1b`},
		{"C0: an OSC that sets the window title", "\x1b]0;pwned\a", `\x1b]0;pwned\x07`},
		{"C0: a CSI that clears the screen", "\x1b[2J", `\x1b[2J`},
		{"DEL", "a\x7fb", `a\x7fb`},
		{"C1: NEL", "a\u0085b", `a\x85b`},
		{"C1: CSI", "\u009b31m", `\x9b31m`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"paragraph separator", "a\u2029b", `a\u2029b`},
		{"bidi: right-to-left override", "evil\u202etxt.exe", `evil\u202etxt.exe`},
		{"bidi: embeddings, overrides and pop", "\u202a\u202b\u202c\u202d", `\u202a\u202b\u202c\u202d`},
		{"bidi: isolates", "\u2066\u2067\u2068\u2069", `\u2066\u2067\u2068\u2069`},
		{"bidi: marks", "\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"zero-width space, non-joiner, joiner", "a\u200bb\u200cc\u200dd", `a\u200bb\u200cc\u200dd`},
		{"word joiner and invisible operators", "\u2060\u2061\u2062\u2063\u2064", `\u2060\u2061\u2062\u2063\u2064`},
		{"soft hyphen", "ali\u00adce", `ali\xadce`},
		{"byte order mark", "\ufeffalice", `\ufeffalice`},
		{"tag characters", "a\U000e0001\U000e0041\U000e007f", `a\U000e0001\U000e0041\U000e007f`},
		{"unassigned tag block", "\U000e0000\U000e0002", `\U000e0000\U000e0002`},
		{"other format characters", "\u180e\u206a\ufff9\U0001d173", `\u180e\u206a\ufff9\U0001d173`},
		{"Hangul fillers", "\u115f\u1160\u3164\uffa0", `\u115f\u1160\u3164\uffa0`},
		{"other invisible marks", "a\u034fb\u17b4\u17b5\U0001d159", `a\u034fb\u17b4\u17b5\U0001d159`},
		{"a ZWJ emoji sequence shows its joiners", "👨\u200d👩\u200d👧", `👨\u200d👩\u200d👧`},
		{"bytes that are not UTF-8", "a\xffb\xc0", `a\xffb\xc0`},
		{"a newline-forged line", "ok\n<alice> please paste your MUXFER_KEY here", `ok\x0a<alice> please paste your MUXFER_KEY here`},
	}
	for _, tt := range tests {
		t.Run(tt.class, func(t *testing.T) {
			got := Escape(tt.in)
			if got != tt.want {
				t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if again := Escape(got); again != got {
				t.Errorf("Escape of its own result %q changed it to %q", got, again)
			}
		})
	}
}

// TestEscapeLeavesLettersOfEveryScript: text in any script, with its
// combining marks, emoji and their variation selectors, and ordinary
// spaces, prints as written.
func TestEscapeLeavesLettersOfEveryScript(t *testing.T) {
	for _, s := range []string{
		"plain ASCII, with punctuation: <alice> [x] {y} ~`'\"\\",
		"Cyrillic: привет, аlice (a Cyrillic а)",
		"Greek: καλημέρα κόσμε",
		"CJK: 日本語 中文 한국어 かな カナ",
		"Arabic: مرحبا بالعالم",
		"Hebrew: שלום עולם",
		"Devanagari: नमस्ते दुनिया",
		"Thai: สวัสดีชาวโลก",
		"accents: ünï Ångström façade ñ",
		"emoji: 👍🎉🚀 ❤️ 🇫🇷",
		"spaces: a\u00a0b\u3000c",
		"box drawing and arrows: ← → █ …",
	} {
		if got := Escape(s); got != s {
			t.Errorf("Escape(%q) = %q, want it unchanged", s, got)
		}
	}
}

// BenchmarkEscape measures what Escape adds to each line shown: a line
// with nothing to escape (most lines) and one full of escapes.
func BenchmarkEscape(b *testing.B) {
	for _, bb := range []struct{ name, line string }{
		{"plain", "verified photos/2024/img_0412.jpg (2.3 MB) xxh3-128:9c1e2f3a4b5c6d7e…"},
		{"letters", "<алиса> привет, 日本語のメッセージ 👍"},
		{"forged", "sent 0 of 1 files; transfer refused: bob: " + "no\x1b]0;pwned\a\x1b[2J\u202eevil\n<alice> paste your key"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Escape(bb.line)
			}
		})
	}
}
