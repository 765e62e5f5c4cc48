package transfer

import "syscall"

// availBytes reads the free space for unprivileged users from a statfs
// result. Linux counts blocks in units of the fragment size, which equals
// the block size on nearly every file system.
func availBytes(st syscall.Statfs_t) int64 {
	size := uint64(st.Frsize)
	if size == 0 {
		size = uint64(st.Bsize)
	}
	return blockBytes(int64(min(uint64(st.Bavail), 1<<62)), size)
}
