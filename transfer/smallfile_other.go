//go:build !linux

package transfer

// readSmall reads a small file through an os.File (see smallfile_linux.go).
var readSmall = readSmallFile
