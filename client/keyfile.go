package client

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/muxfer/muxfer/internal/atomicfile"
)

// Secrets (an access key, the resume secret) live in files of their own,
// one line of text, readable by their owner only.

// ReadKeyFile returns the text in the key file at path, refusing a file
// that others may read.
func ReadKeyFile(path string) (string, error) {
	b, err := readSecret(path, "key file")
	return strings.TrimSpace(string(b)), err
}

// KeyFile returns the text of the key file at path, first creating it
// with a new key (NewKey) if there is none: mode 0600, in a folder of
// mode 0700. created says it was made now. The file appears whole or not
// at all: it is written to a temporary file in the same folder, synced,
// and hard-linked into place, so that of two programs creating it at
// once, both end up with the one that was linked first.
func KeyFile(path string) (text string, created bool, err error) {
	b, created, err := secretFile(path, "key file", func() []byte { return []byte(NewKey().Text() + "\n") })
	return strings.TrimSpace(string(b)), created, err
}

// readSecret reads the secret file at path (what names it in errors),
// refusing one that others may read.
func readSecret(path, what string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s %s can be read by others (mode %04o): run chmod 600 %s", what, path, info.Mode().Perm(), path)
	}
	return os.ReadFile(path)
}

// secretFile returns the contents of the secret file at path, first
// creating it with what contents returns if there is none (see KeyFile).
// what names the file in errors.
func secretFile(path, what string, contents func() []byte) (b []byte, created bool, err error) {
	b, err = readSecret(path, what)
	if !errors.Is(err, fs.ErrNotExist) {
		return b, false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, false, err
	}
	b = contents()
	tmp, err := atomicfile.WriteTemp(path, b)
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		b, err := readSecret(path, what)
		return b, false, err
	} else if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// ConfigDir is muxfer's folder in the user's config directory:
// $XDG_CONFIG_HOME/muxfer if getenv gives an absolute XDG_CONFIG_HOME,
// and otherwise os.UserConfigDir's.
func ConfigDir(getenv func(string) string) (string, error) {
	dir := getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(dir) { // unset, or relative, which the XDG spec says to ignore
		d, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("no config directory: %w", err)
		}
		dir = d
	}
	return filepath.Join(dir, "muxfer"), nil
}
