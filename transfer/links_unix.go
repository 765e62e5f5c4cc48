//go:build unix

package transfer

import (
	"io/fs"
	"syscall"
)

// linkCount returns the number of names a file has, or 1 if unknown.
func linkCount(info fs.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
