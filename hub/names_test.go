package hub

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// SetRecentNames lowers the number of names the hub remembers after they
// left, so that a test need not connect thousands of clients to reach it.
func (h *Hub) SetRecentNames(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.book.max = n
}

// TestNameCheckRefusesLookalikes files one name as in use and asks for
// another: a name that reads like it (as Unicode's skeleton says) is
// refused, one that differs or is the same name in another case is not.
func TestNameCheckRefusesLookalikes(t *testing.T) {
	tests := []struct {
		name       string
		held, want string
		lookalike  bool
	}{
		{"Cyrillic a", "alice", "\u0430lice", true},
		{"Cyrillic a, c and e", "alice", "\u0430li\u0441\u0435", true},
		{"Cyrillic o", "bob", "b\u043eb", true},
		{"Cyrillic p in paypal", "paypal", "\u0440aypal", true},
		{"Cyrillic p and a in paypal", "paypal", "\u0440\u0430yp\u0430l", true},
		{"Greek omicron", "bob", "b\u03bfb", true},
		{"fullwidth letters", "alice", "\uff41\uff4c\uff49\uff43\uff45", true},
		{"fullwidth in capitals", "ALICE", "\uff41lice", true},
		{"capitals and Cyrillic", "ALICE", "\u0430lice", true},
		{"Cyrillic and capitals", "\u0430lice", "ALICE", true},
		{"digit 0 for capital O", "BOB", "B0B", true},
		{"digit 0 for small o", "bob", "b0b", true},
		{"capital I for l", "bill", "biII", true},
		{"digit 1 for l", "bill", "bi11", true},
		{"capital I for digit 1", "bi11", "BIll", true},
		{"rn for m", "modem", "rnodern", true},
		{"mathematical letters", "eve", "\U0001d41e\U0001d42f\U0001d41e", true},
		{"Greek capitals for Latin", "ABE", "\u0391\u0392\u0395", true},
		{"same name", "alice", "alice", false},
		{"same name in other case", "alice", "Alice", false},
		{"another name", "alice", "alicia", false},
		{"small i is not l", "ian", "lan", false},
		{"Russian name beside Latin", "ivan", "\u0418\u0432\u0430\u043d", false},
		{"Greek name beside Latin", "eleni", "\u0395\u03bb\u03ad\u03bd\u03b7", false},
		{"suffixed name", "alice", "alice-2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b nameBook
			b.take(tt.held)
			err := b.check(tt.want, "", time.Now())
			if tt.lookalike && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("looks like %q, which is in use", tt.held))) {
				t.Errorf("%+q beside %+q: error %v, want it refused as a look-alike", tt.want, tt.held, err)
			}
			if !tt.lookalike && err != nil {
				t.Errorf("%+q beside %+q refused: %v", tt.want, tt.held, err)
			}
		})
	}
}

// TestNameCheckRefusesInvisibleCharacters: a name with a character that
// shows as nothing is refused, whatever else it holds, rather than made
// into another name.
func TestNameCheckRefusesInvisibleCharacters(t *testing.T) {
	tests := []struct{ name, want, reason string }{
		{"zero-width space", "ali\u200bce", "invisible character, U+200B"},
		{"zero-width non-joiner", "ali\u200cce", "invisible character, U+200C"},
		{"zero-width joiner", "ali\u200dce", "invisible character, U+200D"},
		{"word joiner", "ali\u2060ce", "invisible character, U+2060"},
		{"soft hyphen", "al\u00adice", "invisible character, U+00AD"},
		{"byte order mark", "\ufeffalice", "invisible character, U+FEFF"},
		{"tag characters", "alice\U000e0041\U000e007f", "invisible character, U+E0041"},
		{"right-to-left override", "\u202eecila", "invisible character, U+202E"},
		{"right-to-left isolate", "ali\u2067ce", "invisible character, U+2067"},
		{"right-to-left mark", "alice\u200f", "invisible character, U+200F"},
		{"Arabic letter mark", "ali\u061cce", "invisible character, U+061C"},
		{"Mongolian vowel separator", "ali\u180ece", "invisible character, U+180E"},
		{"Hangul choseong filler", "\u115f", "invisible character, U+115F"},
		{"Hangul jungseong filler", "\u1160", "invisible character, U+1160"},
		{"Hangul filler", "\u3164", "invisible character, U+3164"},
		{"halfwidth Hangul filler", "alice\uffa0", "invisible character, U+FFA0"},
		{"line separator", "ali\u2028ce", "invisible character, U+2028"},
		{"paragraph separator", "alice\u2029", "invisible character, U+2029"},
		{"variation selector", "alice\ufe0f", "invisible character, U+FE0F"},
		{"combining grapheme joiner", "ali\u034fce", "invisible character, U+034F"},
		{"combining marks only", "\u0301\u0301", "combining mark, U+0301, with no letter"},
		{"combining mark after a hyphen", "al-\u0301ice", "combining mark, U+0301, with no letter"},
		{"combining mark after a space", "al \u0301ice", "combining mark, U+0301, with no letter"},
		{"a pile of combining marks", "al\u0301\u0302\u0303\u0304\u0305ice", "more than 4 combining marks"},
		{"letter newer than the look-alike table", "\U0001df00lice", "U+1DF00, which is newer"},
		{"capital newer than the look-alike table", "B\ua7c0B", "U+A7C0, which is newer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cleanName(tt.want)
			if err == nil || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("cleanName(%+q) = %+q, %v; want an error saying %q", tt.want, got, err, tt.reason)
			}
		})
	}
}

// TestNameRefusalIsBounded: a refusal quotes at most 64 characters of the
// name asked for, however long it was: it goes back in one frame, and
// into the log.
func TestNameRefusalIsBounded(t *testing.T) {
	long := "alice" + strings.Repeat("\u200b", 300_000) // 900 KB, 1.8 MB escaped
	_, err := cleanName(long)
	want := `name "alice` + strings.Repeat(`\u200b`, 2*MaxNameLen-5) + `"... has an invisible character, U+200B`
	if err == nil || err.Error() != want {
		t.Errorf("refusal of a %d-byte name: %.200v; want %q", len(long), err, want)
	}
}

// TestNameCheckAcceptsNamesInAnyScript: names in other scripts than
// Latin, with their combining marks, are kept as they are and are no
// look-alikes of Latin names.
func TestNameCheckAcceptsNamesInAnyScript(t *testing.T) {
	var b nameBook
	for _, n := range []string{"alice", "bob", "ivan", "eleni", "mohammed"} {
		b.take(n)
	}
	for _, want := range []string{
		"\u0418\u0432\u0430\u043d",             // Иван
		"\u0441\u0435\u0440\u0433\u0435\u0439", // сергей
		"\u0395\u03bb\u03ad\u03bd\u03b7",       // Ελένη
		"\u738b\u5c0f\u660e",                   // 王小明
		"\u3055\u304f\u3089",                   // さくら
		"\u30b5\u30af\u30e9",                   // サクラ
		"\uae40\ubbfc\uc900",                   // 김민준
		"\u0645\u062d\u0645\u062f",             // محمد
		"\u05d3\u05b8\u05bc\u05d5\u05b4\u05d3", // pointed דָּוִד
		"\u0905\u0930\u094d\u091c\u0941\u0928", // अर्जुन
		"\u0e2a\u0e21\u0e0a\u0e32\u0e22",       // สมชาย
		"Nguy\u1ec5n",                          // Nguyễn
		"Jos\u00e9",                            // José, composed
		"Jose\u0301",                           // José, decomposed
		"Fran\u00e7ois-\u00c9mile_2.0",         // François-Émile_2.0
		"\u00d8ystein",                         // Øystein
		"\u0160\u0165astn\u00fd",               // Šťastný
		"\u10d2\u10d8\u10dd\u10e0\u10d2\u10d8", // გიორგი
		"\u0531\u0580\u0561\u0574",             // Արամ
		"\u0d05\u0d30\u0d41\u0d7a",             // അരുൺ
		"\u1798\u17b6\u179b\u17b6",             // មាលា
		"\u0c85\u0ca8\u0cbf\u0cb2\u0ccd",       // ಅನಿಲ್
	} {
		got, err := cleanName(want)
		if err != nil || got != want {
			t.Errorf("cleanName(%+q) = %+q, %v; want it unchanged", want, got, err)
			continue
		}
		if err := b.check(want, "", time.Now()); err != nil {
			t.Errorf("%+q refused: %v", want, err)
		}
	}
}

// TestRecentNamesComeBackButNotTheirLookalikes: a name that left may be
// taken again, in any case, but its look-alikes are refused until
// RecentNamesFor has passed.
func TestRecentNamesComeBackButNotTheirLookalikes(t *testing.T) {
	var b nameBook
	t0 := time.Now()
	b.take("alice")
	b.release("alice", t0)
	for _, same := range []string{"alice", "ALICE"} {
		if err := b.check(same, "", t0.Add(time.Minute)); err != nil {
			t.Errorf("%q refused after alice left: %v", same, err)
		}
	}
	look := "\u0430li\u0441\u0435"
	err := b.check(look, "", t0.Add(RecentNamesFor-time.Second))
	if err == nil || !strings.Contains(err.Error(), `looks like "alice", which was in use recently`) {
		t.Errorf("%+q a moment before alice is forgotten: %v, want refused", look, err)
	}
	if err := b.check(look, "", t0.Add(RecentNamesFor)); err != nil {
		t.Errorf("%+q refused %s after alice left: %v", look, RecentNamesFor, err)
	}
	if b.recent.Len() != 0 || len(b.byKey) != 0 {
		t.Errorf("book holds %d recent names under %d keys after they expired", b.recent.Len(), len(b.byKey))
	}

	// Alice back: in use again, no longer recent.
	b.release("alice", t0)
	b.take("alice")
	if b.recent.Len() != 0 || len(b.byKey) != 0 {
		t.Errorf("book holds %d recent names under %d keys after alice came back", b.recent.Len(), len(b.byKey))
	}
	if err := b.check(look, "", t0); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("%+q beside alice back: %v, want refused", look, err)
	}

	// Leaving again, in any case, replaces the memory of leaving before.
	b.release("alice", t0)
	b.release("ALICE", t0.Add(time.Hour))
	if b.recent.Len() != 1 || b.recent.Front().Value.(*pastName).name != "ALICE" {
		t.Errorf("book holds %d recent names after alice left twice, want ALICE alone", b.recent.Len())
	}
}

// BenchmarkLookKeys measures what filing or checking one name costs the
// hub, under its lock.
func BenchmarkLookKeys(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		lookKeys("Fran\u00e7ois-\u00c9mile_\u0430li\u0441\u0435-2")
	}
}

// TestRecentNamesAreBounded: however many names leave, the book keeps the
// last RecentNames of them, and forgets the oldest first.
func TestRecentNamesAreBounded(t *testing.T) {
	var b nameBook
	now := time.Now()
	const n = 3 * RecentNames
	for i := range n {
		name := fmt.Sprintf("user%d", i)
		b.take(name)
		b.release(name, now)
	}
	if b.recent.Len() != RecentNames || len(b.byKey) > 2*RecentNames || len(b.inUse) != 0 {
		t.Errorf("after %d names left: %d recent names under %d keys, %d keys in use; want %d, at most %d, 0",
			n, b.recent.Len(), len(b.byKey), len(b.inUse), RecentNames, 2*RecentNames)
	}
	// Cyrillic dze (U+0455) reads as s.
	if err := b.check("u\u0455er0", "", now); err != nil {
		t.Errorf("the oldest name, user0, is still remembered: %v", err)
	}
	last := fmt.Sprintf("u\u0455er%d", n-1)
	if err := b.check(last, "", now); err == nil {
		t.Errorf("%+q accepted: the latest name to leave is forgotten", last)
	}
}
