package transfer

import (
	"fmt"
	"hash/maphash"
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
	MaxPathLen      = 4096 // bytes in a whole relative path
	MaxComponentLen = 255  // bytes in one path component
	// MaxPathDepth bounds the components of one path, folders and name:
	// "a/b/c.txt" has 3. The deepest trees met in practice stay far below
	// it (node_modules before npm 3 flattened it, Java's package folders,
	// build trees: tens of levels), while MaxPathLen alone would allow
	// 2,048, each a folder for the receiver to create and for the checks
	// here and in the hub to walk up through.
	MaxPathDepth = 256
	MaxFiles     = protocol.MaxOfferFiles // entries in one offer
)

// CheckPath reports whether p is a safe relative path for the receiver to
// create: slash-separated, relative, at most MaxPathLen bytes and
// MaxPathDepth components, without "." or ".." components, empty
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
	case strings.Count(p, "/") >= MaxPathDepth:
		return bad(fmt.Sprintf("more than %d components deep", MaxPathDepth))
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
	for c := range strings.SplitSeq(p, "/") {
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
// Its time is linear in the size of the offer: it folds and normalises
// each path once, however deep.
func CheckOffer(o protocol.Offer) error {
	keys, err := checkEntries(o)
	if err != nil {
		return err
	}
	files := indexFiles(o.Files, keys)
	for i, f := range o.Files {
		if j := files.deepestAbove(keys[i]); j >= 0 {
			a, b := quotePair(f.Path, o.Files[j].Path)
			return fmt.Errorf("offer entry %s: %s is a file in the same offer", a, b)
		}
	}
	return nil
}

// checkEntries checks all of an offer but the files above other entries:
// its transfer ID, its size, each entry on its own, and that no two share
// a resume token or a nameKey. It returns the entries' keys.
func checkEntries(o protocol.Offer) (keys []string, err error) {
	if err := checkTransferID(o.Transfer); err != nil {
		return nil, err
	}
	if len(o.Files) > MaxFiles {
		return nil, fmt.Errorf("offer has %d entries, limit %d", len(o.Files), MaxFiles)
	}
	type listed struct {
		path string
		dir  bool
	}
	seen := make(map[string]listed, len(o.Files)) // by nameKey
	keys = make([]string, len(o.Files))           // by entry
	tokens := map[string]string{}                 // resume token -> path
	for i, f := range o.Files {
		if err := CheckPath(f.Path); err != nil {
			return nil, err
		}
		if f.Size < 0 && (f.Size != protocol.UnknownSize || f.Dir) || f.Dir && f.Size != 0 {
			return nil, fmt.Errorf("offer entry %q: bad size %d", f.Path, f.Size)
		}
		if f.Size == protocol.UnknownSize && f.Resume != "" {
			return nil, fmt.Errorf("offer entry %q: a file of unknown size cannot be resumed", f.Path)
		}
		if err := checkResumeToken(f.Resume); err != nil || f.Dir && f.Resume != "" {
			return nil, fmt.Errorf("offer entry %q: bad resume token", f.Path)
		}
		if f.Resume != "" {
			if prev, dup := tokens[f.Resume]; dup {
				a, b := quotePair(prev, f.Path)
				return nil, fmt.Errorf("offer entries %s and %s: the same resume token", a, b)
			}
			tokens[f.Resume] = f.Path
		}
		key := nameKey(f.Path)
		keys[i] = key
		if prev, dup := seen[key]; dup {
			if prev.path == f.Path {
				return nil, fmt.Errorf("offer entry %q: listed twice", f.Path)
			}
			a, b := quotePair(prev.path, f.Path)
			return nil, fmt.Errorf("offer entries %s and %s: the same name on a disk that ignores letter case or Unicode normalisation", a, b)
		}
		seen[key] = listed{f.Path, f.Dir}
	}
	return keys, nil
}

// fileIndex finds the files of an offer that lie above an entry, from the
// entry's key alone and in time linear in its length.
//
// The key of a folder above an entry is the entry's key up to a "/":
// nameKey keeps every "/" in place, and what lies on either side of one
// is folded and normalised as it would be alone ("/" is a starter, which
// no normalisation reorders, composes or decomposes, and no case folding
// makes or maps; paths_test.go tries every character that either touches).
// So hashing the entry's key once, a name at a time, gives the hash of
// each folder's key on the way (maphash hashes bytes written in parts as
// it hashes the whole). Normalising each folder again, as CheckOffer did,
// took 4.8 s for an offer of 47 KB, 1,300 folders deep; looking each
// folder's key up as a string would hash it anew, in time quadratic in
// the depth still.
type fileIndex struct {
	seed maphash.Seed
	keys []string       // by entry
	last map[uint64]int // the hash of a file's key: the last file with it
	prev []int          // by file: the file before it with the same hash, or -1
}

// indexFiles indexes the entries of files that are not folders; keys holds
// their nameKeys, which are distinct.
func indexFiles(files []protocol.File, keys []string) fileIndex {
	x := fileIndex{seed: maphash.MakeSeed(), keys: keys, last: map[uint64]int{}, prev: make([]int, len(files))}
	for i, f := range files {
		if f.Dir {
			continue
		}
		h := maphash.String(x.seed, keys[i])
		x.prev[i] = -1
		if j, ok := x.last[h]; ok {
			x.prev[i] = j
		}
		x.last[h] = i
	}
	return x
}

// deepestAbove returns the nearest file above the entry whose key is key:
// the index of the file whose key is that of the deepest folder above it,
// or -1 if no folder above it is a file.
func (x fileIndex) deepestAbove(key string) int {
	var h maphash.Hash
	h.SetSeed(x.seed)
	found, start := -1, 0
	for {
		n := strings.IndexByte(key[start:], '/')
		if n < 0 {
			return found
		}
		h.WriteString(key[start : start+n]) // the hash is now that of key[:start+n]
		dir := key[:start+n]
		if j, ok := x.last[h.Sum64()]; ok {
			for ; j >= 0; j = x.prev[j] { // almost always once: 64-bit hashes seldom meet
				if x.keys[j] == dir {
					found = j
					break
				}
			}
		}
		h.WriteByte('/')
		start += n + 1
	}
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
	if keyWork != nil {
		keyWork(len(p))
	}
	if isASCII(p) {
		// The common case, and a quick one: normalisation changes nothing
		// and folding is lower-casing A-Z.
		return strings.ToLower(p)
	}
	folded := strings.Map(foldCherokee, foldCase.String(norm.NFD.String(p)))
	return norm.NFC.String(folded)
}

// keyWork, when set (by a test, before it calls CheckOffer), is told the
// length of every path that nameKey folds and normalises: the test bounds
// that work by the offer's size, which a clock on a shared machine cannot.
var keyWork func(bytes int)

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
