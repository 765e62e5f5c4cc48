// Package atomicfile writes small private files whole or not at all: the
// bytes go to a temporary file beside the target, are synced, and only
// then take the target's name.
package atomicfile

import (
	"os"
	"path/filepath"
)

// WriteTemp writes b to a new temporary file (mode 0600) in the folder of
// path, named after it, syncs and closes it, and returns its name. The
// caller gives it path's name (Replace) or links it there, and removes it.
func WriteTemp(path string, b []byte) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return "", err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}

// Replace replaces the file at path with b (mode 0600), whole or not at
// all, making its folder (mode 0700) if there is none.
func Replace(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := WriteTemp(path, b)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // gone already once renamed
	return os.Rename(tmp, path)
}

// ReplaceIn replaces the file name inside root with b (mode 0600), whole
// or not at all: b goes to name+".tmp", is synced, and only then takes
// the name. The caller writes one name at a time.
func ReplaceIn(root *os.Root, name string, b []byte) error {
	tmp := name + ".tmp"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		root.Remove(tmp)
	}
	return err
}
