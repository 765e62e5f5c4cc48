//go:build !linux && !darwin && !freebsd && !dragonfly

package transfer

import (
	"errors"
	"os"
)

// statfsDisk cannot ask this system for free space; Prepare then checks
// every other limit and leaves a full disk to the disk's own errors.
func statfsDisk(*os.Root) (diskSpace, error) { return diskSpace{}, errors.ErrUnsupported }
