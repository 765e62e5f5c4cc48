package hub

// Names that look like other names.
//
// People tell each other apart on a hub by name only (there are no
// identities yet), so a name that reads like another is a way to speak
// as someone else: a Cyrillic "аliсе" beside "alice", or "alice" with a
// zero-width space in it. The hub refuses two kinds of name:
//
//   - a name with a character that shows as nothing: format characters
//     (zero-width space and joiners, soft hyphen, byte order mark, bidi
//     controls, tags), the other default-ignorable code points (Hangul
//     fillers, variation selectors), line and paragraph separators, and
//     combining marks with no letter to sit on; and letters newer than
//     the table of look-alikes, which cannot say what they look like;
//   - a name that looks like one in use (Unicode's confusable skeleton,
//     UTS #39), or like one that left the hub in the last day, unless it
//     is that very name: alice may come back, аliсе may not come in.
//
// The skeleton comes from github.com/mtibben/confusables, whose Skeleton
// is UTS #39's (NFD, each code point mapped to its prototype by
// confusables.txt, NFD again) over the table of Unicode 13.0.0. Its
// later step "remove default-ignorable code points" (UTS #39 from
// Unicode 15.1) is moot here: such names are refused before.

import (
	"container/list"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/rangetable"
)

const (
	// RecentNames bounds the names the hub remembers after they left (or
	// were renamed), and RecentNamesFor how long: a name that looks like
	// one of them is refused, so that nobody takes over someone's
	// look-alike while they are briefly away. The oldest is forgotten
	// first.
	RecentNames    = 4096
	RecentNamesFor = 24 * time.Hour

	// maxMarks bounds the combining marks on one letter: Vietnamese
	// stacks two, pointed Hebrew three or four; a pile of them draws over
	// the neighbouring lines.
	maxMarks = 4

	// skeletonUnicode is the version of Unicode of confusables' table
	// (the header of the confusables.txt it was made from).
	skeletonUnicode = "13.0.0"
)

// inSkeletonTable holds the code points assigned by skeletonUnicode. Go's
// own tables are newer: a letter added since could look like an older
// one without the table knowing.
var inSkeletonTable = rangetable.Assigned(skeletonUnicode)

// checkVisible returns why a requested name (before cleaning) would show
// other than as it is written, or nil. Characters that cleaning replaces
// with '_' (spaces, controls, symbols) are left to cleaning, as they were.
func checkVisible(name string) error {
	marks := 0
	var prev rune
	for _, r := range name {
		switch {
		case invisible(r):
			return fmt.Errorf("name %s has an invisible character, %U", quote(name), r)
		case unicode.Is(unicode.M, r):
			if marks == 0 && !unicode.IsLetter(prev) && !unicode.IsDigit(prev) {
				return fmt.Errorf("name %s has a combining mark, %U, with no letter before it", quote(name), r)
			}
			if marks++; marks > maxMarks {
				return fmt.Errorf("name %s has more than %d combining marks on one letter", quote(name), maxMarks)
			}
		default:
			marks = 0
		}
		if (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r)) && !unicode.Is(inSkeletonTable, r) {
			return fmt.Errorf("name %s has %U, which is newer than the hub's table of look-alike characters (Unicode %s)", quote(name), r, skeletonUnicode)
		}
		if marks == 0 {
			prev = r
		}
	}
	return nil
}

// quote quotes a requested name for a refusal, with every character but
// printable ASCII escaped, so that a look-alike or invisible character
// shows as its code point. A requested name is not bounded (a hello or
// nick may hold a name of up to a frame), so quote keeps at most twice
// MaxNameLen characters of it, and marks the cut with "...".
func quote(name string) string {
	n := 0
	for i := range name {
		if n == 2*MaxNameLen {
			return fmt.Sprintf("%+q...", name[:i])
		}
		n++
	}
	return fmt.Sprintf("%+q", name)
}

// invisible reports whether r shows as nothing or moves the text around
// it: Cf (format characters), Zl and Zp, and the other code points that
// Unicode says a renderer may ignore.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp,
		unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// lookKeys returns the keys a name is filed under; two names that share
// a key look alike. The first is the skeleton of the case-folded name,
// so that "ALICE", "аlice" and "alice" meet; the second folds the
// skeleton and takes it again, so that "bill" and "biII" (capital i)
// meet too: the skeleton maps capital I to l, but after folding there is
// no capital I left to map.
func lookKeys(name string) [2]string {
	fold := cases.Fold() // a Caser is not safe to share between goroutines
	skel := confusables.Skeleton
	return [2]string{skel(fold.String(name)), skel(fold.String(skel(name)))}
}

// sameName reports whether a and b are one name as the hub compares
// names (its names map): the same after lower-casing. Not EqualFold,
// which also matches "ſ" with "s", where the names map does not.
func sameName(a, b string) bool {
	//lint:ignore SA6005 the names map's keys are lower-cased, and so must these be
	return strings.ToLower(a) == strings.ToLower(b)
}

// nameBook files the names in use and those in use recently under their
// look-alike keys. The hub's mu guards it; its zero value is ready.
type nameBook struct {
	inUse  map[string]string        // key -> the connected name filed under it
	recent list.List                // of *pastName, oldest first
	byKey  map[string]*list.Element // key -> the recent name filed under it
	max    int                      // RecentNames, but in tests
}

// pastName is a name that left the hub, or was renamed, at left.
type pastName struct {
	name string
	keys [2]string
	left time.Time
}

// check returns why name may not be taken if it looks like a name
// in use, or one used recently, other than itself and other than self
// (the name of the client asking, in a rename; "" in a hello).
func (b *nameBook) check(name, self string, now time.Time) error {
	b.expire(now)
	keys := lookKeys(name)
	for _, k := range keys {
		if held, ok := b.inUse[k]; ok && !sameName(held, name) && !sameName(held, self) {
			return fmt.Errorf("name %s looks like %q, which is in use", quote(name), held)
		}
	}
	for _, k := range keys {
		if e, ok := b.byKey[k]; ok {
			if past := e.Value.(*pastName); !sameName(past.name, name) && !sameName(past.name, self) {
				return fmt.Errorf("name %s looks like %q, which was in use recently", quote(name), past.name)
			}
		}
	}
	return nil
}

// take files name as in use. If it was a recent name, it is in use again
// and no longer recent.
func (b *nameBook) take(name string) {
	if b.inUse == nil {
		b.inUse = map[string]string{}
	}
	for _, k := range lookKeys(name) {
		b.inUse[k] = name
		if e, ok := b.byKey[k]; ok && sameName(e.Value.(*pastName).name, name) {
			b.forget(e)
		}
	}
}

// release files name, which a client had until now, as recent: it
// left, or the client took another.
func (b *nameBook) release(name string, now time.Time) {
	keys := lookKeys(name)
	for _, k := range keys {
		if held, ok := b.inUse[k]; ok && sameName(held, name) {
			delete(b.inUse, k)
		}
		if e, ok := b.byKey[k]; ok && sameName(e.Value.(*pastName).name, name) {
			b.forget(e) // it left before, and now again
		}
	}
	if b.byKey == nil {
		b.byKey = map[string]*list.Element{}
	}
	e := b.recent.PushBack(&pastName{name: name, keys: keys, left: now})
	for _, k := range keys {
		b.byKey[k] = e // a look-alike that left before keeps its other key
	}
	limit := b.max
	if limit <= 0 {
		limit = RecentNames
	}
	for b.recent.Len() > limit {
		b.forget(b.recent.Front())
	}
	b.expire(now)
}

// expire forgets the names that left RecentNamesFor ago or longer.
func (b *nameBook) expire(now time.Time) {
	for e := b.recent.Front(); e != nil && now.Sub(e.Value.(*pastName).left) >= RecentNamesFor; e = b.recent.Front() {
		b.forget(e)
	}
}

// forget removes a recent name and its keys.
func (b *nameBook) forget(e *list.Element) {
	past := b.recent.Remove(e).(*pastName)
	for _, k := range past.keys {
		if b.byKey[k] == e {
			delete(b.byKey, k)
		}
	}
}
