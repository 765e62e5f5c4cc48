package termui

import (
	"unicode"

	"golang.org/x/text/width"
)

// runeWidth is the number of columns a terminal gives r: two for East
// Asian wide and full-width runes (most emoji among them), none for
// combining marks and format characters, one otherwise.
func runeWidth(r rune) int {
	if unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf) {
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// runesWidth is the number of columns a terminal gives rs.
func runesWidth(rs []rune) int {
	n := 0
	for _, r := range rs {
		n += runeWidth(r)
	}
	return n
}

// Width is the number of columns a terminal gives s: two for each East
// Asian wide or full-width rune (most emoji among them), none for a
// combining mark or a format character, one for any other rune.
//
//	Width("héllo") == 5, Width("日本語") == 6, Width("e\u0301") == 1
func Width(s string) int { return runesWidth([]rune(s)) }

// Fit cuts s to at most cols columns, ending it with … if it was cut:
//
//	Fit("a bit too long", 8) == "a bit t…"
func Fit(s string, cols int) string {
	if cols <= 0 {
		return ""
	}
	rs := []rune(s)
	if runesWidth(rs) <= cols {
		return s
	}
	used := 0
	for i, r := range rs {
		if used+runeWidth(r) > cols-1 {
			return string(rs[:i]) + "…"
		}
		used += runeWidth(r)
	}
	return s
}

// Shorten cuts s to at most n columns by dropping its start, which for a
// path is the least telling part:
//
//	Shorten("photos/2024/img_0412.jpg", 16) == "…24/img_0412.jpg"
func Shorten(s string, n int) string {
	r := []rune(s)
	if runesWidth(r) <= n {
		return s
	}
	i, used := len(r), 0
	for i > 0 && used+runeWidth(r[i-1]) <= n-1 {
		i--
		used += runeWidth(r[i])
	}
	return "…" + string(r[i:])
}
