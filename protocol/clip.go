package protocol

import "unicode/utf8"

// MaxReasonLen bounds, in bytes, the free text that a hub passes on from
// one client to another: a Reject's Reason, a Result's Error. A hub clips
// longer text (see Clip) before it forwards it, so that what one client
// sends can never make a message to another grow past MaxControlFrame.
const MaxReasonLen = 1024

// Clip returns s cut to at most n bytes, on a rune boundary, ending in "…"
// if it was cut. s is returned unchanged if it fits.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = "…"
	cut := max(n-len(more), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}
