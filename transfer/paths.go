package transfer

import (
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

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
// into another name). The error names the offending path.
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
// extension: CON, PRN, AUX, NUL, COM0-9, LPT0-9.
func isWindowsDevice(c string) bool {
	base, _, _ := strings.Cut(c, ".")
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) {
		return base[3] >= '0' && base[3] <= '9'
	}
	return false
}

// CheckOffer checks every path of an offer and that no two entries collide:
// the same path twice (also when they differ only in case, as they would on
// a case-insensitive disk), or a file where another entry needs a folder.
func CheckOffer(o protocol.Offer) error {
	if err := checkTransferID(o.Transfer); err != nil {
		return err
	}
	if len(o.Files) > MaxFiles {
		return fmt.Errorf("offer has %d entries, limit %d", len(o.Files), MaxFiles)
	}
	seen := make(map[string]bool, len(o.Files)) // folded path -> is a directory
	for _, f := range o.Files {
		if err := CheckPath(f.Path); err != nil {
			return err
		}
		if f.Size < 0 || f.Dir && f.Size != 0 {
			return fmt.Errorf("offer entry %q: bad size %d", f.Path, f.Size)
		}
		key := fold(f.Path)
		if _, dup := seen[key]; dup {
			return fmt.Errorf("offer entry %q: listed twice", f.Path)
		}
		seen[key] = f.Dir
	}
	for _, f := range o.Files {
		for dir := path.Dir(f.Path); dir != "."; dir = path.Dir(dir) {
			if isDir, ok := seen[fold(dir)]; ok && !isDir {
				return fmt.Errorf("offer entry %q: %q is a file in the same offer", f.Path, dir)
			}
		}
	}
	return nil
}

func fold(p string) string { return strings.ToLower(p) }

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
