//go:build darwin || freebsd || dragonfly

package transfer

import "syscall"

// availBytes reads the free space for unprivileged users from a statfs
// result, whose blocks are of the fundamental block size f_bsize.
func availBytes(st syscall.Statfs_t) int64 {
	return blockBytes(int64(st.Bavail), uint64(st.Bsize))
}
