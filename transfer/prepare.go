package transfer

import (
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"math"
	"os"

	"github.com/muxfer/muxfer/protocol"
)

// Prepare checks an offer and creates its folders. It refuses, with an
// error that names the offending entry or the numbers, an offer that
//
//   - fails CheckOffer (unsafe paths, names that collide);
//   - lists more entries or more bytes than r.Limits allow;
//   - would go through a symbolic link already in the target: any existing
//     folder on an entry's path, or an entry's own name, that is a link,
//     even one that points inside the target; or through a file where a
//     folder must be;
//   - needs more room than the file system has free, after the reserves
//     and what is promised to offers still arriving: bytes (each file's
//     size rounded up to whole blocks, and a block for each empty file and
//     each folder it creates), or inodes (one for each file and each
//     folder it creates).
//
// For each file offered with a resume token it looks for what an earlier
// transfer left, a part or the file stored whole, and Accept reports it.
//
// An offer that is refused leaves nothing behind: every check runs before
// anything is created, and if creating a folder still fails, the folders
// this call created are removed again. An accepted offer's room counts as
// promised until each file is stored, fails or is given up, or makes no
// progress for Limits.Stall (see promise.go); the caller must end every
// Incoming with its files received, Cancel or Abandon.
func (r *Receiver) Prepare(o protocol.Offer) (*Incoming, error) {
	if err := CheckOffer(o); err != nil {
		return nil, err
	}
	bytes := offerBytes(o)
	if bytes == math.MaxInt64 {
		// Saturated (or absurd): no disk holds it, and accounting for it
		// could overflow the promised-bytes counter.
		return nil, fmt.Errorf("offer of %d files adds up to more than %d bytes", len(o.Files), int64(math.MaxInt64-1))
	}
	if err := r.Limits.check(len(o.Files), bytes); err != nil {
		return nil, err
	}
	newDirs, err := r.checkTarget(o)
	if err != nil {
		return nil, err
	}
	in := &Incoming{r: r, offer: o, nonce: newTransferID()[:16], dirs: folders{r: r},
		state: make([]fileState, len(o.Files)), taken: make([]bool, len(o.Files)), aborts: make([]func(), len(o.Files))}
	if _, err := r.findResume(in); err != nil {
		return nil, err
	}
	in.waiting, err = r.promise("offer", func(block int64) cost {
		in.block = block
		c := folderCost(int64(newDirs), block)
		for i, f := range o.Files {
			if !f.Dir {
				c = c.plus(in.share(i))
			}
		}
		return c
	})
	if err != nil {
		in.releaseTokens()
		return nil, err
	}
	made, err := r.makeFolders(o)
	if err != nil {
		r.drop(in.waiting)
		in.releaseTokens()
		return nil, err
	}
	// The folders made are on the disk now, and counted in its free
	// space. Those still to make, above files, stay promised until the
	// transfer ends.
	r.release(in.waiting, folderCost(int64(made), in.block))
	for i, f := range o.Files {
		if f.Dir {
			in.state[i] = finished
		} else {
			in.left++
		}
	}
	if in.left == 0 {
		r.drop(in.waiting)
	}
	return in, nil
}

// target is what one name in the receiver's directory holds.
type target uint8

const (
	missing target = iota
	folder
	other // a regular file, or anything else that is neither a folder nor a link
)

// checkTarget refuses an offer whose entries would be written through a
// symbolic link, or below something that is not a folder, and counts the
// folders that the offer needs and the target lacks: those listed, and
// those above every entry, each once. Each name is looked at once however
// many entries share it, and none below a missing one: nothing can be
// there.
//
// The names are kept as a tree, each by its parent and its last
// component, so that the walk costs the length of the offer's paths
// rather than that times their depth.
func (r *Receiver) checkTarget(o protocol.Offer) (newDirs int, err error) {
	type name struct {
		parent int32
		last   string
	}
	ids := map[name]int32{}
	found := []target{folder} // by id; the root, 0, is a folder
	for _, f := range o.Files {
		id := int32(0)
		for start, i := 0, 0; i <= len(f.Path); i++ {
			if i < len(f.Path) && f.Path[i] != '/' {
				continue
			}
			p, last := f.Path[:i], i == len(f.Path)
			child, ok := ids[name{id, f.Path[start:i]}]
			if !ok {
				t := missing
				if found[id] != missing {
					if t, err = r.lookAt(p); err != nil {
						return 0, fmt.Errorf("offer entry %q: %w", f.Path, err)
					}
				}
				if t == missing && (!last || f.Dir) {
					newDirs++
				}
				child = int32(len(found))
				ids[name{id, f.Path[start:i]}] = child
				found = append(found, t)
			}
			if found[child] == other && (!last || f.Dir) {
				return 0, fmt.Errorf("offer entry %q: %q is a file, not a folder", f.Path, p)
			}
			id, start = child, i+1
		}
	}
	return newDirs, nil
}

// lookAt tells what name holds, without following a symbolic link, and
// refuses a link.
func (r *Receiver) lookAt(name string) (target, error) { return lookAt(r.root, name, name) }

// lookAt tells what name, in root, holds; shown is the name for errors.
func lookAt(root *os.Root, name, shown string) (target, error) {
	info, err := root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return missing, nil
	case err != nil:
		return missing, fmt.Errorf("%q: %w", shown, pathErr(err))
	case info.Mode()&fs.ModeSymlink != 0:
		return missing, fmt.Errorf("%q is a symbolic link", shown)
	case info.IsDir():
		return folder, nil
	}
	return other, nil
}

// refuseLinks refuses a path if any existing name on it, folders and the
// path itself, is a symbolic link.
func (r *Receiver) refuseLinks(p string) error {
	for name := range prefixes(p) {
		if t, err := r.lookAt(name); err != nil || t == missing {
			return err
		}
	}
	return nil
}

// makeFolders creates every folder entry of o and the folders above it.
// A folder listed in the offer gets the entry's mode, one that is not gets
// 0755; both before the umask. A folder that exists keeps its mode. If a
// folder cannot be created, the ones this call created are removed again,
// deepest first, and the error names the folder. It returns how many
// folders it created.
func (r *Receiver) makeFolders(o protocol.Offer) (made int, err error) {
	modes := map[string]fs.FileMode{}
	for _, f := range o.Files {
		if f.Dir {
			modes[f.Path] = dirMode(f.Mode)
		}
	}
	var created []string
	defer func() {
		if err != nil {
			// Children were created after their parents. A folder that
			// something else has meanwhile written into is not empty, and
			// stays.
			for i := len(created) - 1; i >= 0; i-- {
				r.root.Remove(created[i])
			}
		}
	}()
	done := map[string]bool{}
	for _, f := range o.Files {
		if !f.Dir {
			continue
		}
		for name := range prefixes(f.Path) {
			if done[name] {
				continue
			}
			mode, listed := modes[name]
			if !listed {
				mode = 0o755
			}
			ok, err := r.makeFolder(name, mode)
			if err != nil {
				return 0, fmt.Errorf("create folder %s: %w", name, err)
			}
			if ok {
				created = append(created, name)
			}
			done[name] = true
		}
	}
	return len(created), nil
}

// makeFolder creates one folder, whose parent exists, and reports whether
// it did. A folder already there (another offer may have just made it) is
// fine; anything else there is not.
func (r *Receiver) makeFolder(name string, mode fs.FileMode) (bool, error) {
	err := r.mkdir(name, mode)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return false, pathErr(err)
	}
	switch t, err := r.lookAt(name); {
	case err != nil:
		return false, err
	case t != folder:
		return false, fmt.Errorf("%q is a file, not a folder", name)
	}
	return false, nil
}

// prefixes yields the names on a slash-separated path, from the top:
// "a", "a/b", "a/b/c" for "a/b/c".
func prefixes(p string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := 0; i < len(p); i++ {
			if p[i] == '/' && !yield(p[:i]) {
				return
			}
		}
		yield(p)
	}
}
