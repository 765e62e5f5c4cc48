// Package units writes byte counts for people, the one way muxfer writes
// them everywhere (progress, summaries, offers, limits, flag defaults):
// binary multiples with IEC names, as the sizes and rates on its command
// line are read (10M is 10 MiB).
package units

import "fmt"

// Bytes writes n as "512 B", "1.5 KiB", "64.0 MiB", "5.2 GiB": below
// 1024 exactly, above it with one decimal in the largest unit that keeps
// the number under 1024 once rounded.
func Bytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n) / 1024
	const prefixes = "KMGTPE"
	i := 0
	for v >= 1023.95 && i < len(prefixes)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, prefixes[i])
}
