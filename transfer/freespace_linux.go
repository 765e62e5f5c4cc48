package transfer

import "syscall"

// diskOf reads a statfs result. Linux counts blocks in units of the
// fragment size, which equals the block size on nearly every file system.
// Inodes are free to every user alike (ext4 keeps none for the
// superuser), so f_ffree is what the receiver may use.
func diskOf(st syscall.Statfs_t) diskSpace {
	size := uint64(st.Frsize)
	if size == 0 {
		size = uint64(st.Bsize)
	}
	return diskSpace{
		free:       blockBytes(clampCount(st.Bavail), size),
		block:      entryBlock(clampCount(size)),
		inodes:     clampCount(st.Files),
		freeInodes: clampCount(st.Ffree),
	}
}
