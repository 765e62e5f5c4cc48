package hub

// Files on the hub: what a client may list (List) and download (Get,
// get.go) of what the hub stores, as Config.Read and Config.Shared say.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// Who may read the files a hub stores (Config.Read).
const (
	// ReadOwn lets each client read the files its identity uploaded
	// (as the hub recorded them, UploadsFile), and the Shared folders. A
	// client without an identity reads only the Shared folders.
	ReadOwn = "own"
	// ReadAll lets every client read every file and folder the hub
	// stores, but for its own files (".muxfer-…").
	ReadAll = "all"
	// ReadNone lets nobody list or get anything, Shared folders neither.
	ReadNone = "none"
)

// maxFound bounds the entries one List or Get collects: as many as one
// offer may hold.
const maxFound = transfer.MaxFiles

// found is a file or folder a client may read.
type found struct {
	path     string
	info     fs.FileInfo
	up       upload
	recorded bool
}

// findError is a refusal of a List or Get, as a code and words.
type findError struct{ code, text string }

func (e *findError) Error() string { return e.text }

func notFound(p string) *findError {
	return &findError{protocol.CodeNotFound, fmt.Sprintf("no such file or folder that you may read: %q", p)}
}

// cleanRequest returns the path of a request as the hub's folder names
// it ("" for the top), or why it is refused.
func cleanRequest(p string) (string, *findError) {
	p = strings.Trim(p, "/")
	if p == "" || p == "." {
		return "", nil
	}
	if len(p) > 4096 || strings.ContainsRune(p, 0) || strings.Contains(p, "\\") {
		return "", notFound(protocol.Clip(p, 128))
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") || hidden(c) {
		return "", notFound(protocol.Clip(p, 128))
	}
	return c, nil
}

// shared reports whether p is in (or is) one of the shared folders.
func (h *Hub) shared(p string) bool {
	for _, s := range h.cfg.Shared {
		if p == s || strings.HasPrefix(p, s+"/") {
			return true
		}
	}
	return false
}

// mayRead reports whether the client with identity may read the file at
// p, as info describes it, and returns its upload record if there is one.
func (h *Hub) mayRead(identity, p string, info fs.FileInfo) (upload, bool, bool) {
	u, recorded := h.catalog.lookup(p)
	recorded = recorded && u.matches(info)
	switch {
	case h.cfg.Read == ReadNone:
		return u, recorded, false
	case h.cfg.Read == ReadAll || h.shared(p):
		return u, recorded, true
	}
	return u, recorded, identity != "" && recorded && u.Identity == identity
}

// find collects what the client with identity may read at p: the file,
// or the entries of the folder (every one under it if recursive), at most
// maxFound of them (truncated says there were more). A file or folder it
// may not read is not found, as one that does not exist.
func (h *Hub) find(identity, p string, recursive bool) ([]found, bool, *findError) {
	p, ferr := cleanRequest(p)
	if ferr != nil {
		return nil, false, ferr
	}
	if h.cfg.Read == ReadNone {
		return nil, false, &findError{protocol.CodeDenied, "this hub lets nobody list or get its files"}
	}
	name := p
	if name == "" {
		name = "."
	}
	if err := folderOnly(h.root, parentOf(p)); err != nil {
		return nil, false, notFound(p)
	}
	info, err := h.root.Lstat(name)
	if err != nil {
		return nil, false, notFound(p)
	}
	switch {
	case info.Mode().IsRegular():
		u, recorded, ok := h.mayRead(identity, p, info)
		if !ok {
			return nil, false, notFound(p)
		}
		return []found{{path: p, info: info, up: u, recorded: recorded}}, false, nil
	case !info.IsDir():
		return nil, false, notFound(p) // a link, a device: never served
	}
	c := collector{h: h, identity: identity, seen: map[string]bool{}}
	if h.cfg.Read == ReadAll || h.shared(p) {
		c.walk(p, recursive)
	} else {
		c.own(p, recursive)
		for _, s := range h.cfg.Shared {
			if under(s, p) {
				c.sharedBelow(p, s, recursive)
			}
		}
		if p != "" && len(c.out) == 0 {
			return nil, false, notFound(p)
		}
	}
	slices.SortFunc(c.out, func(a, b found) int { return strings.Compare(a.path, b.path) })
	return c.out, c.truncated, nil
}

// folderOnly refuses a folder path ("" for the top) one of whose
// elements is a link, or not a folder: os.Root follows links inside the
// hub's folder, and a link would make a path's text (a shared folder's,
// say) say another place than the one it reaches.
func folderOnly(root *os.Root, dir string) error {
	at := ""
	for part := range strings.SplitSeq(dir, "/") {
		if part == "" {
			continue
		}
		at = path.Join(at, part)
		info, err := root.Lstat(at)
		if err != nil {
			return err
		}
		if !info.IsDir() {
			return errors.New("not a folder")
		}
	}
	return nil
}

// parentOf is the folder that holds p ("" for the top).
func parentOf(p string) string {
	if dir := path.Dir(p); dir != "." {
		return dir
	}
	return ""
}

// under reports whether p is strictly inside folder dir ("" for the top).
func under(p, dir string) bool {
	return p != dir && (dir == "" || strings.HasPrefix(p, dir+"/"))
}

// collector gathers found entries once each, up to maxFound.
type collector struct {
	h         *Hub
	identity  string
	seen      map[string]bool
	out       []found
	truncated bool
}

// add keeps the entry at p, unless it was kept already; it reports false
// once the collector is full.
func (c *collector) add(f found) bool {
	if c.seen[f.path] {
		return true
	}
	if len(c.out) >= maxFound {
		c.truncated = true
		return false
	}
	c.seen[f.path] = true
	c.out = append(c.out, f)
	return true
}

// folder keeps the folder at p, if it is one.
func (c *collector) folder(p string) bool {
	if c.seen[p] {
		return true
	}
	info, err := c.h.root.Lstat(p)
	if err != nil || !info.IsDir() {
		return true
	}
	return c.add(found{path: p, info: info})
}

// walk keeps every readable file and folder in dir, or under it if
// recursive: links and other kinds of files are skipped, and so are the
// hub's own files.
func (c *collector) walk(dir string, recursive bool) {
	start := dir
	if start == "" {
		start = "."
	}
	fs.WalkDir(c.h.root.FS(), start, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == start {
			return nil // unreadable: skipped
		}
		if hidden(p) || !(d.IsDir() || d.Type().IsRegular()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		u, recorded, ok := c.h.mayRead(c.identity, p, info)
		if info.IsDir() {
			ok = true
		}
		if ok && !c.add(found{path: p, info: info, up: u, recorded: recorded}) {
			return fs.SkipAll
		}
		if d.IsDir() && !recursive {
			return fs.SkipDir
		}
		return nil
	})
}

// own keeps the files under dir that the client uploaded, and the
// folders that hold them: with recursive, every folder between dir and
// each file; without, the file or the folder directly in dir.
func (c *collector) own(dir string, recursive bool) {
	if c.identity == "" {
		return
	}
	look := folderLooks{root: c.h.root}
	for _, p := range c.h.catalog.uploadedBy(c.identity, dir, maxFound) {
		if !under(p, dir) {
			continue
		}
		info, err := look.lstat(p)
		if err != nil {
			continue
		}
		u, recorded, ok := c.h.mayRead(c.identity, p, info)
		if !ok {
			continue
		}
		if !c.between(dir, p, recursive) {
			return
		}
		if (recursive || path.Dir(p) == dir || dir == "" && !strings.Contains(p, "/")) &&
			!c.add(found{path: p, info: info, up: u, recorded: recorded}) {
			return
		}
	}
}

// folderLooks looks at files a folder at a time: the entries of each
// folder are read once (one open, and a stat of each entry relative to
// it), rather than each file's path walked from the top, which os.Root
// does a folder at a time for every file.
type folderLooks struct {
	root    *os.Root
	folder  string
	entries map[string]fs.DirEntry
	err     error
}

// lstat describes the entry at p as Root.Lstat does. The paths come in
// order (uploadedBy sorts them), so each folder is read once.
func (l *folderLooks) lstat(p string) (fs.FileInfo, error) {
	dir, name := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if dir != l.folder || l.entries == nil {
		l.folder, l.entries, l.err = dir, map[string]fs.DirEntry{}, nil
		if l.err = folderOnly(l.root, dir); l.err == nil {
			at := dir
			if at == "" {
				at = "."
			}
			var list []fs.DirEntry
			if list, l.err = fs.ReadDir(l.root.FS(), at); l.err == nil {
				for _, e := range list {
					l.entries[e.Name()] = e
				}
			}
		}
	}
	if l.err != nil {
		return nil, l.err
	}
	e, ok := l.entries[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return e.Info()
}

// between keeps the folders from dir down to p's: all of them if
// recursive, otherwise only the one directly in dir.
func (c *collector) between(dir, p string, recursive bool) bool {
	rest := strings.TrimPrefix(p, dir+"/")
	if dir == "" {
		rest = p
	}
	parts := strings.Split(rest, "/")
	at := dir
	for i, part := range parts[:len(parts)-1] {
		at = path.Join(at, part)
		if (recursive || i == 0) && !c.folder(at) {
			return false
		}
		if !recursive {
			break
		}
	}
	return true
}

// sharedBelow keeps the shared folder s, which is inside dir: with
// recursive, the folders down to it and everything in it; without, the
// folder directly in dir that leads to it.
func (c *collector) sharedBelow(dir, s string, recursive bool) {
	if info, err := c.h.root.Lstat(s); err != nil || !info.IsDir() {
		return
	}
	if !c.between(dir, s+"/x", recursive) {
		return
	}
	if recursive {
		c.folder(s)
		c.walk(s, true)
	}
}

// list answers a List: the entries in parts of at most
// protocol.MaxListingEntries, each small enough for a control frame.
func (p *peer) list(l protocol.List) {
	id := protocol.Clip(l.ID, 64)
	if !p.offers.Allow() {
		p.answer(protocol.Listing{ID: id, Entries: []protocol.Entry{}, Code: protocol.CodeBusy,
			Error: fmt.Sprintf("more than %d requests a second: ask again shortly", p.h.cfg.OffersPerSecond)})
		return
	}
	list, truncated, ferr := p.h.find(p.info.Identity, l.Path, l.Recursive)
	if ferr != nil {
		p.answer(protocol.Listing{ID: id, Entries: []protocol.Entry{}, Code: ferr.code, Error: ferr.text})
		return
	}
	part := protocol.Listing{ID: id, Entries: make([]protocol.Entry, 0, min(len(list), protocol.MaxListingEntries))}
	size := 0
	for i, f := range list {
		e := entryOf(f.path, f.info, f.up, f.recorded)
		n := entrySize(e)
		if len(part.Entries) == protocol.MaxListingEntries || size+n > protocol.MaxControlFrame/2 {
			part.More = true
			p.answer(part)
			part = protocol.Listing{ID: id, Entries: make([]protocol.Entry, 0, min(len(list)-i, protocol.MaxListingEntries))}
			size = 0
		}
		part.Entries = append(part.Entries, e)
		size += n
	}
	if truncated {
		part.Truncated, part.Code = true, protocol.CodeLimit
		part.Error = fmt.Sprintf("more than %d entries: list a folder inside it", maxFound)
	}
	p.answer(part)
}

// entrySize bounds the length of e in JSON: each byte of a path takes at
// most 6 (an escape), and the rest at most 400.
func entrySize(e protocol.Entry) int { return 6*(len(e.Path)+len(e.By)) + 400 }

// checkRead checks Read and Shared, and cleans Shared's paths.
func (c *Config) checkRead() error {
	switch c.Read {
	case ReadOwn, ReadAll, ReadNone:
	default:
		return fmt.Errorf("hub: who may read the files: %q is none of %s, %s or %s", c.Read, ReadOwn, ReadAll, ReadNone)
	}
	shared := make([]string, 0, len(c.Shared))
	for _, s := range c.Shared {
		p, err := cleanRequest(s)
		if err != nil || p == "" {
			return fmt.Errorf("hub: shared folder %q: not a folder inside the hub's folder (give a path relative to it, not its top)", s)
		}
		shared = append(shared, p)
	}
	c.Shared = shared
	return nil
}
