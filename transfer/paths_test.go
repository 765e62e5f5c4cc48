package transfer

import (
	"fmt"
	"math/rand/v2"
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/muxfer/muxfer/protocol"
)

func TestCheckPathAcceptsSafeRelativePaths(t *testing.T) {
	tests := []struct {
		name string
		path string
	}{
		{"plain file", "a.txt"},
		{"nested non-ASCII", "dir/sub/ünï 日本.txt"},
		{"spaces", "notes with spaces.md"},
		{"leading space", " a.txt"},
		{"dotfile", ".bashrc"},
		{"dots inside a name", "a..b/..c/c..d"},
		{"device name as a prefix only", "CONSOLE.txt/COM10/LPT/nullify/COM⁴/LPT¹¹"},
		{"longest component", strings.Repeat("x", MaxComponentLen)},
		{"longest path", longPath(MaxPathLen)},
		{"deepest path", deepPath("É", MaxPathDepth)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckPath(tt.path); err != nil {
				t.Errorf("CheckPath(%q) = %v, want nil", tt.path, err)
			}
		})
	}
}

func TestCheckPathRefusesUnsafePathsNamingThem(t *testing.T) {
	tests := []struct {
		name string
		path string
	}{
		{"empty", ""},
		{"absolute", "/etc/passwd"},
		{"parent", ".."},
		{"parent inside", "a/../b"},
		{"current folder first", "./a"},
		{"empty component", "a//b"},
		{"trailing slash", "a/"},
		{"trailing dot component", "a/."},
		{"NUL", "a\x00b"},
		{"escape sequence", "\x1b[31m"},
		{"tab", "a\tb"},
		{"C1 control", "a\u0085b"},
		{"backslash", `a\b`},
		{"drive letter", "C:"},
		{"drive path", "c:/x"},
		{"stream name", "a.txt:hidden"},
		{"device", "CON"},
		{"device with extension", "nul.txt"},
		{"device lower case", "com1"},
		{"device with extension upper case", "LPT9.log"},
		{"device in a folder", "dir/aux.c"},
		{"device with trailing space", "PRN .txt"},
		{"device with a superscript digit", "COM¹"},
		{"device with a superscript digit and extension", "lpt³.txt"},
		{"component too long", strings.Repeat("x", MaxComponentLen+1)},
		{"path too long", longPath(MaxPathLen + 1)},
		{"path too deep", deepPath("a", MaxPathDepth+1)},
		{"bidi override", "invoice\u202egnp.exe"},
		{"bidi isolate", "a\u2066b"},
		{"invalid UTF-8", "a\xffb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPath(tt.path)
			if err == nil {
				t.Fatalf("CheckPath(%q) = nil, want an error", tt.path)
			}
			if q := fmt.Sprintf("%q", tt.path); !strings.Contains(err.Error(), q) {
				t.Errorf("CheckPath(%q) = %q, want the error to name %s", tt.path, err, q)
			}
		})
	}
}

// deepPath returns a path of depth components named name.
func deepPath(name string, depth int) string {
	return strings.Repeat(name+"/", depth-1) + name
}

// A path of 1,300 folders named É is shorter than MaxPathLen: its depth
// alone refuses it, and the error says so.
func TestCheckPathRefusesPathsDeeperThanMaxPathDepth(t *testing.T) {
	for _, p := range []string{deepPath("É", 1301), deepPath("a", MaxPathDepth+1)} {
		err := CheckPath(p)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d components", MaxPathDepth)) {
			t.Errorf("CheckPath(%d components, %d bytes) = %v, want the depth refused", strings.Count(p, "/")+1, len(p), err)
		}
	}
}

// Windows silently drops a trailing dot from a name, so "notes." would be
// created as "notes": a different name from the one offered and checked.
func TestCheckPathRefusesNameEndingInDot(t *testing.T) {
	for _, p := range []string{"notes.", "dir./a.txt"} {
		t.Run(p, func(t *testing.T) {
			if err := CheckPath(p); err == nil {
				t.Errorf("CheckPath(%q) = nil, want an error", p)
			}
		})
	}
}

// longPath returns a valid relative path of exactly n bytes: components
// of 99 bytes, the last one of 1 to 100.
func longPath(n int) string {
	q := (n - 1) / 100
	return strings.Repeat(strings.Repeat("d", 99)+"/", q) + strings.Repeat("d", n-100*q)
}

func TestCheckOfferAcceptsTree(t *testing.T) {
	o := protocol.Offer{Transfer: "Ab-9_" + strings.Repeat("x", 59), Files: []protocol.File{
		{Path: "photos", Dir: true},
		{Path: "photos/a.jpg", Size: 10},
		{Path: "photos/A (1).jpg", Size: 0},
		{Path: "photos/2024", Dir: true},
		{Path: "photos/2024/b.jpg", Size: 3},
		{Path: "notes/c.txt", Size: 1}, // its folder is not listed: created on demand
	}}
	if err := CheckOffer(o); err != nil {
		t.Fatalf("CheckOffer: %v", err)
	}
}

func TestCheckOfferRefusesCollisionsAndBadEntries(t *testing.T) {
	file := func(p string) protocol.File { return protocol.File{Path: p, Size: 1} }
	dir := func(p string) protocol.File { return protocol.File{Path: p, Dir: true} }
	many := make([]protocol.File, MaxFiles+1)
	for i := range many {
		many[i] = file(fmt.Sprintf("f%d", i))
	}
	tests := []struct {
		name  string
		offer protocol.Offer
		want  string // in the error
	}{
		{"same path twice", protocol.Offer{Transfer: "t", Files: []protocol.File{file("a.txt"), file("a.txt")}}, `"a.txt"`},
		{"same path in another case", protocol.Offer{Transfer: "t", Files: []protocol.File{file("dir/Read.ME"), file("DIR/read.me")}}, `"DIR/read.me"`},
		{"file and folder of one name", protocol.Offer{Transfer: "t", Files: []protocol.File{file("a"), dir("a")}}, `"a"`},
		{"folder twice", protocol.Offer{Transfer: "t", Files: []protocol.File{dir("a"), dir("A")}}, `"A"`},
		{"file as parent", protocol.Offer{Transfer: "t", Files: []protocol.File{file("a"), file("a/b")}}, `"a/b"`},
		{"file as parent listed later", protocol.Offer{Transfer: "t", Files: []protocol.File{file("a/b"), file("a")}}, `"a/b"`},
		{"file as grandparent", protocol.Offer{Transfer: "t", Files: []protocol.File{file("a/b/c"), file("a/b")}}, `"a/b/c"`},
		{"file as parent in another case", protocol.Offer{Transfer: "t", Files: []protocol.File{file("Docs"), file("docs/x")}}, `"docs/x"`},
		{"unsafe path", protocol.Offer{Transfer: "t", Files: []protocol.File{file("ok"), file("../x")}}, `"../x"`},
		{"negative size other than UnknownSize", protocol.Offer{Transfer: "t", Files: []protocol.File{{Path: "a", Size: -2}}}, `"a"`},
		{"folder with a size", protocol.Offer{Transfer: "t", Files: []protocol.File{{Path: "a", Size: 5, Dir: true}}}, `"a"`},
		{"empty transfer id", protocol.Offer{Transfer: "", Files: []protocol.File{file("a")}}, "transfer id"},
		{"transfer id with a slash", protocol.Offer{Transfer: "../x", Files: []protocol.File{file("a")}}, `"../x"`},
		{"transfer id with a space", protocol.Offer{Transfer: "a b", Files: []protocol.File{file("a")}}, `"a b"`},
		{"transfer id not ASCII", protocol.Offer{Transfer: "ü", Files: []protocol.File{file("a")}}, "transfer id"},
		{"transfer id too long", protocol.Offer{Transfer: strings.Repeat("a", 65), Files: []protocol.File{file("a")}}, "transfer id"},
		{"too many entries", protocol.Offer{Transfer: "t", Files: many}, fmt.Sprint(MaxFiles)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckOffer(tt.offer)
			if err == nil {
				t.Fatal("CheckOffer = nil, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckOffer = %q, want it to mention %s", err, tt.want)
			}
		})
	}
}

func TestCheckOfferAcceptsMaxFilesEntries(t *testing.T) {
	files := make([]protocol.File, MaxFiles)
	for i := range files {
		files[i] = protocol.File{Path: fmt.Sprintf("d%d/f", i)}
	}
	if err := CheckOffer(protocol.Offer{Transfer: "t", Files: files}); err != nil {
		t.Fatalf("CheckOffer with %d entries: %v", MaxFiles, err)
	}
}

// Two names that a disk may take for one file: equal after letter case is
// folded (fully: "ß" is "ss") and Unicode normalisation is undone
// (precomposed "é" is "e" and a combining accent). The error names both
// entries, with non-ASCII escaped when the two would look the same.
func TestCheckOfferRefusesNamesEqualAfterFoldingAndNormalisation(t *testing.T) {
	file := func(p string) protocol.File { return protocol.File{Path: p, Size: 1} }
	dir := func(p string) protocol.File { return protocol.File{Path: p, Dir: true} }
	tests := []struct {
		name  string
		files []protocol.File
		want  []string // each in the error
	}{
		{"NFC and NFD", []protocol.File{file("café.txt"), file("cafe\u0301.txt")}, []string{`"caf\u00e9.txt"`, `"cafe\u0301.txt"`}},
		{"NFD and NFC in a folder name", []protocol.File{file("Cafe\u0301/a"), file("café/b"), file("CAFÉ/a")}, []string{`"Cafe\u0301/a"`, `"CAF\u00c9/a"`}},
		{"umlaut in two cases", []protocol.File{file("Ä"), file("ä")}, []string{`"Ä"`, `"ä"`}},
		{"umlaut decomposed and upper case", []protocol.File{file("A\u0308.txt"), file("ä.txt")}, []string{`"A\u0308.txt"`, `"\u00e4.txt"`}},
		{"sharp s and SS", []protocol.File{file("straße"), file("STRASSE")}, []string{`"straße"`, `"STRASSE"`}},
		{"capital sharp s", []protocol.File{file("ẞ"), file("ss")}, []string{`"ẞ"`, `"ss"`}},
		{"Kelvin sign and k", []protocol.File{file("\u212a.txt"), file("k.txt")}, []string{`"\u212a.txt"`, `"k.txt"`}},
		{"fi ligature", []protocol.File{file("ﬁle"), file("FILE")}, []string{`"ﬁle"`, `"FILE"`}},
		{"Greek final sigma", []protocol.File{file("ΟΔΟΣ"), file("οδος")}, []string{`"ΟΔΟΣ"`, `"οδος"`}},
		{"Cherokee, which folds to upper case", []protocol.File{file("ꭰ"), file("Ꭰ")}, []string{`"ꭰ"`, `"Ꭰ"`}},
		{"folder and file", []protocol.File{dir("Résumé"), file("re\u0301sume\u0301")}, []string{`"R\u00e9sum\u00e9"`, `"re\u0301sume\u0301"`}},
		{"file as parent after normalisation", []protocol.File{file("café"), file("cafe\u0301/x")}, []string{`"cafe\u0301/x"`, `"caf\u00e9"`}},
		{"file as parent after folding", []protocol.File{file("STRASSE"), file("straße/x")}, []string{`"straße/x"`, `"STRASSE"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckOffer(protocol.Offer{Transfer: "t", Files: tt.files})
			if err == nil {
				t.Fatal("CheckOffer = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CheckOffer = %q, want it to name %s", err, w)
				}
			}
		})
	}
}

// Folding must not merge names that differ in more than case and
// normalisation.
func TestCheckOfferKeepsNamesThatDifferAfterFolding(t *testing.T) {
	tests := []struct {
		name string
		a, b string
	}{
		{"accent and none", "résumé.txt", "resume.txt"},
		{"dotless and dotted i", "ı", "i"},
		{"capital I with dot and I", "İ", "I"},
		{"combining accent on another letter", "cafe\u0301", "caf\u0301e"},
		{"width variants", "ａ", "a"}, // compatibility, not canonical, equivalents
		{"digit forms", "①", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := protocol.Offer{Transfer: "t", Files: []protocol.File{{Path: tt.a}, {Path: tt.b}}}
			if err := CheckOffer(o); err != nil {
				t.Errorf("CheckOffer(%q, %q) = %v, want nil", tt.a, tt.b, err)
			}
		})
	}
}

// A parent's key must be the start of its children's keys, and the key of
// a key must be itself, or collisions between a folder and a file below it
// would go unseen.
func TestNameKeyKeepsSlashesAndIsStable(t *testing.T) {
	for _, p := range []string{"a/b", "Cafe\u0301/ÄB/straße", "ꭰ/Ꭰ", "ΟΔΟΣ/ς", "/\u0301", "ﬁ/İ/x"} {
		k := nameKey(p)
		if got := strings.Count(k, "/"); got != strings.Count(p, "/") {
			t.Errorf("nameKey(%q) = %q: %d slashes, want %d", p, k, got, strings.Count(p, "/"))
		}
		if nameKey(k) != k {
			t.Errorf("nameKey(%q) = %q, whose key is %q", p, k, nameKey(k))
		}
		for dir := path.Dir(p); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if !strings.HasPrefix(k, nameKey(dir)+"/") {
				t.Errorf("nameKey(%q) = %q does not start with nameKey(%q)/ = %q/", p, k, dir, nameKey(dir))
			}
		}
	}
}

// checkOfferEveryParent is CheckOffer as it was: it normalises the path of
// every folder above every entry again and looks it up. The tests hold
// CheckOffer to its answers, error for error.
func checkOfferEveryParent(o protocol.Offer) error {
	keys, err := checkEntries(o)
	if err != nil {
		return err
	}
	byKey := make(map[string]int, len(keys))
	for i, k := range keys {
		byKey[k] = i
	}
	for _, f := range o.Files {
		for dir := path.Dir(f.Path); dir != "."; dir = path.Dir(dir) {
			if j, ok := byKey[nameKey(dir)]; ok && !o.Files[j].Dir {
				a, b := quotePair(f.Path, o.Files[j].Path)
				return fmt.Errorf("offer entry %s: %s is a file in the same offer", a, b)
			}
		}
	}
	return nil
}

// spellings are names and the other ways of writing them that a disk may
// take for them: in another case, decomposed, folded fully, as Hangul
// jamo; and combining marks, which must not reach across a "/".
var spellings = [][]string{
	{"a", "A"},
	{"É", "e\u0301", "E\u0301"},
	{"straße", "STRASSE", "strasse", "STRAẞE"},
	{"\u212a", "k", "K"},
	{"ꭰ", "Ꭰ"},
	{"가", "\u1100\u1161"},
	{"ﬁ", "FI", "fi"},
	{"ΣΑΣ", "σας", "σασ"},
	{"x\u0301", "x\u0301"},
	{"\u0301", "\u0345"},
	{"\u1161"},
	{"=\u0338", "≠"},
}

// randomOffer returns an offer of a few entries whose names are spellings
// of a few names: entries often collide, and often lie below a file.
func randomOffer(r *rand.Rand) protocol.Offer {
	o := protocol.Offer{Transfer: "t"}
	groups := spellings[r.IntN(len(spellings)-1):][:2] // few names: many collisions
	for range 2 + r.IntN(6) {
		var names []string
		for range 1 + r.IntN(4) {
			s := groups[r.IntN(len(groups))]
			names = append(names, s[r.IntN(len(s))])
		}
		f := protocol.File{Path: strings.Join(names, "/"), Size: 1}
		if r.IntN(2) == 0 {
			f.Dir, f.Size = true, 0
		}
		o.Files = append(o.Files, f)
	}
	return o
}

// CheckOffer finds the files above entries from each entry's key alone,
// trusting that a folder's key is a prefix of its entry's: it must refuse
// exactly what normalising every folder again refused, with the same error.
func TestCheckOfferRefusesWhatCheckingEveryFolderAgainRefused(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	outcomes := map[string]int{}
	for range 20000 {
		o := randomOffer(r)
		got, want := CheckOffer(o), checkOfferEveryParent(o)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("CheckOffer(%+v) = %v\nchecking every folder again: %v", o.Files, got, want)
		}
		switch {
		case got == nil:
			outcomes["accepted"]++
		case strings.Contains(got.Error(), "is a file"):
			outcomes["below a file"]++
		default:
			outcomes["other"]++
		}
	}
	t.Logf("outcomes: %v", outcomes)
	for _, k := range []string{"accepted", "below a file", "other"} {
		if outcomes[k] < 1000 {
			t.Fatalf("outcomes %v: too few %s to compare", outcomes, k)
		}
	}
}

// The key of a path is the keys of its names joined by "/": no character
// next to a "/" normalises or folds across it. Every character that
// normalisation or folding touches (about 16,000) is tried on each side of
// a "/", and after a letter that composes or before a mark that combines.
func TestNameKeyOfEveryCharacterStopsAtASlash(t *testing.T) {
	for r := rune(0x80); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		s := string(r)
		d, c := norm.NFD.PropertiesString(s), norm.NFC.PropertiesString(s)
		if d.CCC() == 0 && len(d.Decomposition()) == 0 && c.BoundaryBefore() && c.BoundaryAfter() && foldCase.String(s) == s {
			continue // a starter that nothing changes or joins
		}
		for _, names := range [][2]string{{"e" + s, s + "\u0301"}, {s, s}} {
			if k, want := nameKey(names[0]+"/"+names[1]), nameKey(names[0])+"/"+nameKey(names[1]); k != want {
				t.Errorf("nameKey(%+q) = %+q, want %+q", names[0]+"/"+names[1], k, want)
			}
		}
	}
}

// deepOffer returns an offer of about size bytes of paths depth
// components deep, their folders named É: each path has depth-1 folders
// above it to check, each of which took a normalisation of its own.
func deepOffer(depth, size int) protocol.Offer {
	o := protocol.Offer{Transfer: "t"}
	for n := 0; n < size; {
		f := protocol.File{Path: fmt.Sprintf("%sf%d", strings.Repeat("É/", depth-1), len(o.Files)), Size: 1}
		o.Files = append(o.Files, f)
		n += len(f.Path)
	}
	return o
}

// A deep offer took time quadratic in its depth: 4.8 s for 47 KB of paths
// 1,300 folders deep, as every folder above every entry was normalised
// again. CheckOffer now normalises each path once; counted in bytes, not
// timed, so that the test holds on a busy machine.
func TestCheckOfferNormalisesEachPathOnce(t *testing.T) {
	tests := []struct {
		name  string
		offer protocol.Offer
	}{
		{"paths MaxPathDepth deep", deepOffer(MaxPathDepth, 32<<10)},
		{"a file at the top of them", func() protocol.Offer {
			o := deepOffer(MaxPathDepth, 32<<10)
			o.Files = append(o.Files, protocol.File{Path: "é", Size: 1})
			return o
		}()},
		{"each in a folder of its own", func() protocol.Offer {
			o := deepOffer(MaxPathDepth, 32<<10)
			for i := range o.Files {
				o.Files[i].Path = fmt.Sprintf("d%d/%s", i, o.Files[i].Path[len("É/"):])
			}
			return o
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offered := 0
			for _, f := range tt.offer.Files {
				offered += len(f.Path)
			}
			normalised := 0
			keyWork = func(n int) { normalised += n }
			defer func() { keyWork = nil }()
			CheckOffer(tt.offer)
			if normalised > 2*offered {
				t.Fatalf("normalised %d bytes for %d bytes of paths; want at most twice that", normalised, offered)
			}
			t.Logf("normalised %d bytes for %d bytes of paths", normalised, offered)
		})
	}
}

// BenchmarkCheckOfferDeepPaths checks an offer of 1 MiB of paths
// MaxPathDepth deep, and the offer of the report: 47 KB of paths 1,300
// folders deep, now refused by depth at its first entry.
func BenchmarkCheckOfferDeepPaths(b *testing.B) {
	for _, bm := range []struct {
		name  string
		offer protocol.Offer
	}{
		{"Depth256Size1MiB", deepOffer(MaxPathDepth, 1<<20)},
		{"Depth1300Size47KB", deepOffer(1300, 47<<10)},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				CheckOffer(bm.offer)
			}
		})
	}
}
