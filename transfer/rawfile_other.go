//go:build !linux

package transfer

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// createPart creates part in root exclusively (see rawfile_linux.go).
func createPart(root *os.Root, _ int, part string, mode fs.FileMode) (partFile, error) {
	return root.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
}

// rename is not done in one call here: place links and removes.
func rename(int, string, string) error { return errors.ErrUnsupported }

// setModTime sets the modification time of name in root.
func setModTime(root *os.Root, _ int, name string, mtime time.Time) error {
	return root.Chtimes(name, time.Time{}, mtime)
}
