package transfer

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/muxfer/muxfer/protocol"
)

// Limits on what an offer may contain.
const (
	MaxPathLen      = 4096   // bytes in a whole relative path
	MaxComponentLen = 255    // bytes in one path component
	MaxFiles        = 100000 // entries in one offer
)

// CheckPath reports whether p is a safe relative path for the receiver to
// create: slash-separated, relative, without "." or ".." components, empty
// components, NUL, backslashes, control characters, or names that Windows
// reserves (drive letters such as "C:", devices such as "CON" or
// "nul.txt", names ending in a dot or a space, which Windows would trim
// into another name), or names starting with ".muxfer-", which receivers
// keep for their partial files. The error names the offending path.
func CheckPath(p string) error {
	bad := func(why string) error { return fmt.Errorf("unsafe path %q: %s", p, why) }
	switch {
	case p == "":
		return bad("empty")
	case len(p) > MaxPathLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxPathLen))
	case !utf8.ValidString(p):
		return bad("not valid UTF-8")
	case strings.HasPrefix(p, "/"):
		return bad("absolute")
	case strings.ContainsRune(p, '\\'):
		return bad("contains a backslash")
	}
	for _, r := range p {
		if r == 0 || unicode.IsControl(r) || isBidiControl(r) {
			return bad("contains a control character")
		}
	}
	for _, c := range strings.Split(p, "/") {
		switch {
		case c == "":
			return bad("empty component")
		case c == "." || c == "..":
			return bad("contains " + c)
		case strings.HasSuffix(c, ".") || strings.HasSuffix(c, " "):
			// Windows drops a trailing dot or space: "a." would become "a".
			return bad("component ends with a dot or a space")
		case len(c) > MaxComponentLen:
			return bad(fmt.Sprintf("component longer than %d bytes", MaxComponentLen))
		case strings.Contains(c, ":"):
			return bad("contains a colon (drive or stream name)")
		case isWindowsDevice(c):
			return bad("reserved device name")
		case len(c) >= len(partPrefix) && strings.EqualFold(c[:len(partPrefix)], partPrefix):
			// In any letter case: a disk that ignores case would take
			// ".MUXFER-records" for the receiver's own file.
			return bad("names starting with " + partPrefix + " are the receiver's partial files")
		}
	}
	return nil
}

// isBidiControl reports the Unicode bidirectional formatting characters,
// which can make a name display as something else.
func isBidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f || r == 0x061c
}

// isWindowsDevice reports names that Windows maps to devices whatever their
// extension: CON, PRN, AUX, NUL, COM0-9, LPT0-9, and COM and LPT with a
// superscript 1, 2 or 3, which Windows takes for digits.
func isWindowsDevice(c string) bool {
	base, _, _ := strings.Cut(c, ".")
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT") {
		switch n := base[3:]; n {
		case "¹", "²", "³":
			return true
		default:
			return len(n) == 1 && n[0] >= '0' && n[0] <= '9'
		}
	}
	return false
}

// CheckOffer checks every path of an offer and that no two entries collide:
// the same name twice, also when the two differ only in letter case or in
// Unicode normalisation, as they would on a disk that ignores either; or a
// file where another entry needs a folder. The error names the entries.
func CheckOffer(o protocol.Offer) error {
	if err := checkTransferID(o.Transfer); err != nil {
		return err
	}
	if len(o.Files) > MaxFiles {
		return fmt.Errorf("offer has %d entries, limit %d", len(o.Files), MaxFiles)
	}
	type listed struct {
		path string
		dir  bool
	}
	seen := make(map[string]listed, len(o.Files)) // by nameKey
	tokens := map[string]string{}                 // resume token -> path
	for _, f := range o.Files {
		if err := CheckPath(f.Path); err != nil {
			return err
		}
		if f.Size < 0 || f.Dir && f.Size != 0 {
			return fmt.Errorf("offer entry %q: bad size %d", f.Path, f.Size)
		}
		if err := checkResumeToken(f.Resume); err != nil || f.Dir && f.Resume != "" {
			return fmt.Errorf("offer entry %q: bad resume token", f.Path)
		}
		if f.Resume != "" {
			if prev, dup := tokens[f.Resume]; dup {
				a, b := quotePair(prev, f.Path)
				return fmt.Errorf("offer entries %s and %s: the same resume token", a, b)
			}
			tokens[f.Resume] = f.Path
		}
		key := nameKey(f.Path)
		if prev, dup := seen[key]; dup {
			if prev.path == f.Path {
				return fmt.Errorf("offer entry %q: listed twice", f.Path)
			}
			a, b := quotePair(prev.path, f.Path)
			return fmt.Errorf("offer entries %s and %s: the same name on a disk that ignores letter case or Unicode normalisation", a, b)
		}
		seen[key] = listed{f.Path, f.Dir}
	}
	for _, f := range o.Files {
		for dir := path.Dir(f.Path); dir != "."; dir = path.Dir(dir) {
			if prev, ok := seen[nameKey(dir)]; ok && !prev.dir {
				a, b := quotePair(f.Path, prev.path)
				return fmt.Errorf("offer entry %s: %s is a file in the same offer", a, b)
			}
		}
	}
	return nil
}

// nameKey returns the form of a path under which two paths name the same
// file on a disk that ignores letter case, Unicode normalisation, or both
// (macOS, Windows, Linux casefold folders): Unicode canonical caseless
// matching (Unicode 3.13, D145), NFD, then full case folding, then NFC.
//
// Full folding (CaseFolding.txt statuses C and F) rather than simple folding
// means that "straße" and "STRASSE" share a key, and so do "ﬁle" and "file".
// NTFS, which upper-cases one code point at a time, would keep those pairs
// apart, but ext4 and f2fs casefolding fold fully, and a receiver cannot
// know which disk it writes to: refusing a pair that one disk keeps apart
// costs the sender a rename; accepting a pair that another disk merges costs
// a file. The key keeps every "/" in place, so the key of a parent folder
// is a prefix of the key of the path.
func nameKey(p string) string {
	if isASCII(p) {
		// The common case, and a quick one: normalisation changes nothing
		// and folding is lower-casing A-Z.
		return strings.ToLower(p)
	}
	folded := strings.Map(foldCherokee, foldCase.String(norm.NFD.String(p)))
	return norm.NFC.String(folded)
}

// foldCase is stateless and safe for concurrent use.
var foldCase = cases.Fold()

// foldCherokee corrects x/text's folding of Cherokee (golang/go#46101),
// which swaps the letters' cases instead of folding both to upper case,
// as CaseFolding.txt does for Cherokee alone: without it "Ꭰ" and "ꭰ"
// would get different keys.
func foldCherokee(r rune) rune {
	switch {
	case r >= 0xab70 && r <= 0xabbf: // small letters A to YA
		return r - 0xab70 + 0x13a0
	case r >= 0x13f8 && r <= 0x13fd: // small letters YE to MV
		return r - 8
	}
	return r
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// quotePair quotes two names for an error message. Names that differ only
// in normalisation look the same on screen (precomposed "é" and "e" with a
// combining accent; the Kelvin sign and "K"), so when either is not in NFC
// both are quoted with every non-ASCII character escaped, for the reader to
// see the difference: "caf\u00e9.txt" and "cafe\u0301.txt".
func quotePair(a, b string) (string, string) {
	if norm.NFC.IsNormalString(a) && norm.NFC.IsNormalString(b) {
		return strconv.Quote(a), strconv.Quote(b)
	}
	return strconv.QuoteToASCII(a), strconv.QuoteToASCII(b)
}

func checkTransferID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("bad transfer id %q", id)
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_') {
			return fmt.Errorf("bad transfer id %q", id)
		}
	}
	return nil
}
