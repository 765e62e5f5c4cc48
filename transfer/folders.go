package transfer

import (
	"os"
	"path"
	"sync"
	"sync/atomic"
)

// Each os.Root operation on "a/b/file" opens "a" and "a/b" again, checks
// them and closes them: for 5,000 files of 4 KiB in 50 folders, that walk
// was a third of the receiver's system calls (17 opens per file). folders
// opens each folder of a transfer once, checked as the walk would be, and
// the half-dozen operations on each file (create its part, link it, remove
// the part, set its times) act on the folder's handle by the file's base
// name.
//
// A handle stays valid when the folder's path changes (renamed, or replaced
// by a link): the files keep going where the checks found it.

// maxOpenFolders is how many idle folder handles a transfer keeps open.
const maxOpenFolders = 16

// folders holds open handles on the folders of one transfer's files.
type folders struct {
	r *Receiver

	mu     sync.Mutex
	open   map[string]*openFolder
	closed bool
	live   atomic.Int32 // folders open, in the map or not
}

// dirHandle is a folder of the receiver's, open: as an os.Root, and as a
// descriptor for the calls os.Root does not make (see rawfile_linux.go),
// -1 if there is none.
type dirHandle struct {
	*os.Root
	fd int
}

type openFolder struct {
	dirHandle
	dir   *os.File // holds fd
	owned bool     // Root is this folder's own, closed with it
	users int
	live  *atomic.Int32
}

func (f *openFolder) close() {
	f.live.Add(-1)
	if f.dir != nil {
		f.dir.Close()
	}
	if f.owned {
		f.Root.Close()
	}
}

// get returns the folder dir (relative to the receiver's root), created
// if missing, and a release to call when done with it. It refuses a
// folder that is, or is under, a symbolic link.
func (fs *folders) get(dir string) (dirHandle, func(), error) {
	fs.mu.Lock()
	if f, ok := fs.open[dir]; ok && !fs.closed {
		f.users++
		fs.mu.Unlock()
		return f.dirHandle, func() { fs.release(dir, f) }, nil
	}
	fs.mu.Unlock()

	// Opened outside the lock: two streams may open the same folder at
	// once, and the second handle then serves its stream alone.
	f, err := fs.openFolder(dir)
	if err != nil {
		return dirHandle{}, nil, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if _, ok := fs.open[dir]; ok || fs.closed {
		return f.dirHandle, f.close, nil
	}
	if fs.open == nil {
		fs.open = map[string]*openFolder{}
	}
	fs.open[dir] = f
	return f.dirHandle, func() { fs.release(dir, f) }, nil
}

func (fs *folders) openFolder(dir string) (*openFolder, error) {
	f := &openFolder{dirHandle: dirHandle{Root: fs.r.root, fd: -1}, users: 1, live: &fs.live}
	if dir != "." {
		if err := fs.r.refuseLinks(dir); err != nil {
			return nil, err
		}
		if err := fs.r.root.MkdirAll(dir, 0o755); err != nil {
			return nil, pathErr(err)
		}
		root, err := fs.r.root.OpenRoot(dir)
		if err != nil {
			return nil, pathErr(err)
		}
		f.Root, f.owned = root, true
	}
	if d, err := f.Open("."); err == nil {
		f.dir, f.fd = d, int(d.Fd())
	}
	fs.live.Add(1)
	return f, nil
}

// release ends one use of f, and closes idle handles beyond the bound.
func (fs *folders) release(dir string, f *openFolder) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f.users--
	if fs.closed && f.users == 0 {
		f.close()
		return
	}
	for name, g := range fs.open {
		if len(fs.open) <= maxOpenFolders {
			break
		}
		if g.users == 0 {
			g.close()
			delete(fs.open, name)
		}
	}
}

// close closes every handle, each idle one now and the others when their
// last user releases them.
func (fs *folders) close() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return
	}
	fs.closed = true
	for name, f := range fs.open {
		if f.users == 0 {
			f.close()
		}
		delete(fs.open, name)
	}
}

// inFolder splits a file's path into its folder and its base name.
func inFolder(p string) (dir, base string) {
	return path.Dir(p), path.Base(p)
}
