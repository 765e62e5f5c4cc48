package termui

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSafeJSONDecodesToTheSameStringAndHidesNothing: an encoded JSON
// value with EscapeJSON's escapes decodes to the same string, and its text
// holds no control, bidi or invisible character a program printing it
// would pass on; letters stay as they are.
func TestSafeJSONDecodesToTheSameStringAndHidesNothing(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // a substring of the JSON text
	}{
		{"right-to-left override", "evil\u202etxt.exe", `evil\u202etxt.exe`},
		{"every bidi control", "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069", `\u061c\u200e\u200f\u202a`},
		{"zero-width and joiners", "a\u200bb\u200cc\u200dd\u2060e", `a\u200bb\u200cc\u200dd\u2060e`},
		{"soft hyphen and BOM", "ali\u00adce\ufeff", `ali\u00adce\ufeff`},
		{"line and paragraph separators", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"DEL and C1 controls", "a\x7fb\u0085c\u009bd", `a\u007fb\u0085c\u009bd`},
		{"C0 controls, which the encoder escapes", "a\nb\x1b]0;t\a", `a\nb\u001b]0;t\u0007`},
		{"tag characters, as surrogate pairs", "a\U000e0041\U000e007f", `a\udb40\udc41\udb40\udc7f`},
		{"Hangul filler", "\u3164", `\u3164`},
		{"letters unchanged", "привет καλημέρα 日本語 👍", "привет καλημέρα 日本語 👍"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(map[string]string{"text": tt.in})
			if err != nil {
				t.Fatal(err)
			}
			out := EscapeJSON(string(b))
			var back map[string]string
			if err := json.Unmarshal([]byte(out), &back); err != nil || back["text"] != tt.in {
				t.Fatalf("EscapeJSON(%s) = %s, which decodes to %q (%v), want %q", b, out, back["text"], err, tt.in)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("EscapeJSON gave %s, want it to contain %s", out, tt.want)
			}
			if Escape(out) != out {
				t.Errorf("EscapeJSON gave %s, with a character Unsafe names in it as it is", out)
			}
		})
	}
}
