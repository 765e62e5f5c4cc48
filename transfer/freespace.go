//go:build linux || darwin || freebsd || dragonfly

package transfer

import (
	"math"
	"os"
	"syscall"
)

// statfsFreeSpace returns the bytes available to the receiver (not to the
// superuser alone) on the file system that holds root. It asks through a
// descriptor of the root itself, so a root opened by a relative name, or
// moved since, still answers for the right file system.
func statfsFreeSpace(root *os.Root) (int64, error) {
	d, err := root.Open(".")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	rc, err := d.SyscallConn()
	if err != nil {
		return 0, err
	}
	var st syscall.Statfs_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstatfs(int(fd), &st) }); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, os.NewSyscallError("fstatfs", serr)
	}
	return availBytes(st), nil
}

// blockBytes multiplies a count of blocks by their size, saturating at
// math.MaxInt64 and treating a negative count (FreeBSD reports one for a
// disk filled into the superuser's share) as none.
func blockBytes(blocks int64, size uint64) int64 {
	if blocks <= 0 || size == 0 {
		return 0
	}
	if uint64(blocks) > math.MaxInt64/size {
		return math.MaxInt64
	}
	return blocks * int64(size)
}
