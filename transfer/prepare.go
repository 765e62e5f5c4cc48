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
//   - needs more bytes than the file system has free, after the reserve
//     and the bytes promised to offers still arriving.
//
// For each file offered with a resume token it looks for what an earlier
// transfer left, a part or the file stored whole, and Accept reports it.
//
// An offer that is refused leaves nothing behind: every check runs before
// anything is created, and if creating a folder still fails, the folders
// this call created are removed again. An accepted offer's bytes count as
// promised until each file is stored, fails or is given up; the caller
// must end every Incoming with its files received, Cancel or Abandon.
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
	if err := r.checkTarget(o); err != nil {
		return nil, err
	}
	in := &Incoming{r: r, offer: o, nonce: newTransferID()[:16], dirs: folders{r: r},
		state: make([]fileState, len(o.Files)), taken: make([]bool, len(o.Files)), aborts: make([]func(), len(o.Files))}
	// Bytes held already need no room: a file resumed writes only the
	// rest, and one sent again from byte 0 first empties its part.
	held, err := r.findResume(in)
	if err != nil {
		return nil, err
	}
	if err := r.promise(bytes - held); err != nil {
		in.releaseTokens()
		return nil, err
	}
	if err := r.makeFolders(o); err != nil {
		r.release(bytes - held)
		in.releaseTokens()
		return nil, err
	}
	for i, f := range o.Files {
		if f.Dir {
			in.state[i] = finished
		} else {
			in.left++
		}
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
// symbolic link, or below something that is not a folder. Each name is
// looked at once however many entries share it, and the walk down a path
// stops at its first missing name: nothing can be below it.
func (r *Receiver) checkTarget(o protocol.Offer) error {
	seen := map[string]target{}
	for _, f := range o.Files {
		if err := r.walkTarget(f, seen); err != nil {
			return fmt.Errorf("offer entry %q: %w", f.Path, err)
		}
	}
	return nil
}

func (r *Receiver) walkTarget(f protocol.File, seen map[string]target) error {
	for name := range prefixes(f.Path) {
		last := name == f.Path
		t, ok := seen[name]
		if !ok {
			var err error
			if t, err = r.lookAt(name); err != nil {
				return err
			}
			seen[name] = t
		}
		switch {
		case t == missing:
			return nil
		case t == other && (!last || f.Dir):
			return fmt.Errorf("%q is a file, not a folder", name)
		}
	}
	return nil
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
// deepest first, and the error names the folder.
func (r *Receiver) makeFolders(o protocol.Offer) (err error) {
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
			made, err := r.makeFolder(name, mode)
			if err != nil {
				return fmt.Errorf("create folder %s: %w", name, err)
			}
			if made {
				created = append(created, name)
			}
			done[name] = true
		}
	}
	return nil
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
