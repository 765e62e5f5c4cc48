//go:build !linux && !darwin && !freebsd && !dragonfly

package transfer

import (
	"errors"
	"os"
)

// statfsFreeSpace cannot ask this system for free space; Prepare then
// checks every other limit and leaves a full disk to the disk's own errors.
func statfsFreeSpace(*os.Root) (int64, error) { return 0, errors.ErrUnsupported }
