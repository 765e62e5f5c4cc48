//go:build darwin || freebsd || dragonfly

package transfer

import "syscall"

// diskOf reads a statfs result, whose blocks are of the fundamental block
// size f_bsize.
func diskOf(st syscall.Statfs_t) diskSpace {
	return diskSpace{
		free:       blockBytes(int64(st.Bavail), uint64(st.Bsize)),
		block:      entryBlock(clampCount(uint64(st.Bsize))),
		inodes:     clampCount(st.Files),
		freeInodes: clampCount(st.Ffree),
	}
}
