//go:build linux || darwin || freebsd || dragonfly

package transfer

import (
	"math"
	"os"
	"syscall"
)

// statfsDisk reports the room on the file system that holds root, as the
// receiver (not the superuser alone) may use it. It asks through a
// descriptor of the root itself, so a root opened by a relative name, or
// moved since, still answers for the right file system.
func statfsDisk(root *os.Root) (diskSpace, error) {
	d, err := root.Open(".")
	if err != nil {
		return diskSpace{}, err
	}
	defer d.Close()
	rc, err := d.SyscallConn()
	if err != nil {
		return diskSpace{}, err
	}
	var st syscall.Statfs_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstatfs(int(fd), &st) }); err != nil {
		return diskSpace{}, err
	}
	if serr != nil {
		return diskSpace{}, os.NewSyscallError("fstatfs", serr)
	}
	return diskOf(st), nil
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

// clampCount reads a count from a statfs result, whose types differ from
// system to system: a negative one (FreeBSD's free inodes, filled into
// the superuser's share) is none, and a huge one is capped at 2^62 so
// that sums of them cannot overflow.
func clampCount[T ~int64 | ~uint64](n T) int64 {
	if n <= 0 {
		return 0
	}
	if uint64(n) > 1<<62 {
		return 1 << 62
	}
	return int64(n)
}
