package transfer

// Walking the paths a sender names into a manifest.

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/muxfer/muxfer/protocol"
)

// Skipped is a local path that Scan left out, with the reason.
type Skipped struct {
	Path   string
	Reason string
}

// Scan builds a manifest from files and folders, the way "scp -r" names
// them: a file "dir/a.txt" is offered as "a.txt", and a folder "photos/" as
// "photos" followed by everything under it, including empty folders.
// A symbolic link named as an argument is followed, as scp and rsync
// follow the links on their command line, and offered under the link's
// name. Symbolic links inside folders and other non-regular files are
// skipped and reported, as are names a receiver would refuse.
func Scan(paths ...string) (*Manifest, []Skipped, error) {
	m := &Manifest{}
	var skipped []Skipped
	tops := map[string]string{}
	for _, p := range paths {
		base, err := offerName(p)
		if err != nil {
			return nil, nil, err
		}
		// The receiver refuses names that collide on a disk that ignores
		// case or normalisation; say so before anything is offered.
		if prev, dup := tops[nameKey(base)]; dup {
			return nil, nil, fmt.Errorf("%s and %s would both arrive as %q", prev, p, base)
		}
		tops[nameKey(base)] = p
		root, target, err := walkRoot(p)
		if err != nil {
			return nil, nil, err
		}
		visit := func(local string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, local)
			if err != nil {
				return err
			}
			name := path.Join(base, filepath.ToSlash(rel))
			if err := CheckPath(name); err != nil {
				skipped = append(skipped, Skipped{local, err.Error()})
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			switch {
			case d.IsDir():
				m.add(local, protocol.File{Path: name, Dir: true, Mode: uint32(info.Mode().Perm()), MTime: info.ModTime().UnixNano()})
			case d.Type().IsRegular():
				m.add(local, protocol.File{Path: name, Size: info.Size(), Mode: uint32(info.Mode().Perm()), MTime: info.ModTime().UnixNano()})
			default:
				skipped = append(skipped, Skipped{local, "not a regular file (" + info.Mode().Type().String() + ")"})
			}
			return nil
		}
		if target != nil && !target.IsDir() {
			// A link to a file: WalkDir would see the link itself.
			err = visit(p, fs.FileInfoToDirEntry(target), nil)
		} else {
			err = filepath.WalkDir(root, visit)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return m, skipped, nil
}

// walkRoot is where Scan walks argument p from: p itself, or, when p is a
// symbolic link, p with a trailing separator for a link to a folder (so
// that the walk starts in the folder and lists it under the link's path)
// and target, what the link points to. Links further down are not
// followed.
func walkRoot(p string) (root string, target fs.FileInfo, err error) {
	info, err := os.Lstat(p)
	if err != nil {
		return "", nil, pathError(p, err)
	}
	if info.Mode()&fs.ModeSymlink == 0 {
		return p, nil, nil
	}
	if target, err = os.Stat(p); err != nil {
		return "", nil, pathError(p, err)
	}
	if target.IsDir() {
		return p + string(filepath.Separator), target, nil
	}
	return p, target, nil
}

// pathError names p once, before the cause: "a/b: no such file or directory".
func pathError(p string, err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return fmt.Errorf("%s: %w", p, pe.Err)
	}
	return err
}

// offerName is the name under which path p arrives: its last element.
func offerName(p string) (string, error) {
	if _, err := os.Lstat(p); err != nil {
		return "", pathError(p, err)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	base := filepath.Base(abs)
	if base == string(filepath.Separator) || base == "." {
		return "", fmt.Errorf("%s: cannot send a file system root", p)
	}
	return base, nil
}
