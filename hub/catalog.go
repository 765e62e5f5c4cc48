package hub

// Who uploaded what.
//
// The hub records each file it stores from an upload, in UploadsFile in
// its folder, one JSON object per line, appended as files are stored:
//
//	{"p":"docs/a.txt","b":"alice","i":"<identity in hex>","t":1700000000,"n":5,"m":1700000000123456789,"h":"xxh3-128:…"}
//	{"p":"docs","b":"alice","i":"<identity in hex>","t":1700000000,"n":0,"m":0,"d":true}
//
// (path, uploader's name and identity, Unix seconds, size, mtime, hash;
// or a folder an upload offered, so that empty folders come back too).
// A file's record counts only while the file at its path still has that
// size and mtime: a file the operator changed or replaced is nobody's
// upload.
// This is what lets a hub that lets each client read its own uploads
// (ReadOwn) find them; the file is rewritten with only the live records
// when the hub starts.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/muxfer/muxfer/internal/atomicfile"
	"github.com/muxfer/muxfer/protocol"
)

// UploadsFile is the file in the hub's folder that records who uploaded
// each file. Its name starts with ".muxfer-", which no upload may use.
const UploadsFile = ".muxfer-uploads"

// DefaultMaxRecordedUploads is Config.MaxRecordedUploads' default.
const DefaultMaxRecordedUploads = 1_000_000

// upload is the record of one stored file.
type upload struct {
	Path     string `json:"p"`
	By       string `json:"b"`
	Identity string `json:"i,omitempty"`
	At       int64  `json:"t"`
	Size     int64  `json:"n"`
	MTime    int64  `json:"m"`
	Hash     string `json:"h,omitempty"`
	Dir      bool   `json:"d,omitempty"` // a folder the upload offered (it may have been there before)
}

// matches reports whether info is the file the record was made for, or
// a folder for a folder's record.
func (u upload) matches(info fs.FileInfo) bool {
	if u.Dir {
		return info.IsDir()
	}
	return info.Mode().IsRegular() && info.Size() == u.Size && info.ModTime().UnixNano() == u.MTime
}

// catalog holds the records of uploads, by path, and appends new ones to
// UploadsFile.
type catalog struct {
	root *os.Root
	max  int

	mu      sync.Mutex
	files   map[string]upload
	mine    map[string]map[string]struct{} // identity -> paths it uploaded
	journal *os.File                       // nil until the first record
}

// maxUploadLine bounds a line of UploadsFile as it is read; a longer one
// is skipped.
const maxUploadLine = 8 * 4096

// openCatalog reads UploadsFile in root, keeping the records whose files
// are still there as recorded, and rewrites it with only those. It
// returns the number of lines it skipped as unreadable.
func openCatalog(root *os.Root, max int) (*catalog, int, error) {
	c := &catalog{root: root, max: max, files: map[string]upload{}, mine: map[string]map[string]struct{}{}}
	f, err := root.Open(UploadsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return c, 0, nil
	}
	if err != nil {
		return c, 0, err
	}
	defer f.Close()
	skipped, lines := 0, 0
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := readLine(r, maxUploadLine)
		if len(line) > 0 || err == errLongLine {
			lines++
			var u upload
			if err == errLongLine || json.Unmarshal(line, &u) != nil || checkStored(u.Path) != nil {
				skipped++
			} else {
				c.addLocked(u)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil && err != errLongLine {
			return c, skipped, err
		}
	}
	for p, u := range c.files {
		if info, err := root.Lstat(p); err != nil || !u.matches(info) {
			c.dropLocked(p)
		}
	}
	if lines > len(c.files) {
		return c, skipped, c.rewrite()
	}
	return c, skipped, nil
}

// errLongLine is readLine's for a line over its bound, which it skips.
var errLongLine = errors.New("line too long")

// readLine reads one line of r without its newline, or skips one of more
// than limit bytes and returns errLongLine; io.EOF after the last.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > limit+1 {
			line = nil
			for err == bufio.ErrBufferFull { // the rest of the long line
				_, err = r.ReadSlice('\n')
			}
			if err == nil || err == io.EOF {
				return nil, errLongLine
			}
			return nil, err
		}
		line = append(line, chunk...)
		switch err {
		case bufio.ErrBufferFull:
			continue
		case nil:
			return line[:len(line)-1], nil
		default:
			return line, err
		}
	}
}

// checkStored refuses a recorded path that is not one an upload could
// have stored: absolute, with "..", or in the hub's own files.
func checkStored(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || hidden(p) {
		return errors.New("not a stored file's path")
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return errors.New("not a stored file's path")
		}
	}
	return nil
}

// hidden reports whether a path is, or is inside, one of the hub's own
// files (records, parts, names): no client lists or gets those.
func hidden(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if len(part) >= len(".muxfer-") && strings.EqualFold(part[:len(".muxfer-")], ".muxfer-") {
			return true // in any case: on a disk that ignores it, .MUXFER-secret is the secret
		}
	}
	return false
}

// rewrite replaces UploadsFile with the records held, whole or not at
// all.
func (c *catalog) rewrite() error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, u := range c.files {
		enc.Encode(u)
	}
	return atomicfile.ReplaceIn(c.root, UploadsFile, b.Bytes())
}

// errCatalogFull reports an upload not recorded: the catalog holds
// Config.MaxRecordedUploads records already.
var errCatalogFull = errors.New("the record of uploads is full: the file is stored, and nobody's upload")

// record adds the record of a stored file and appends it to UploadsFile.
func (c *catalog) record(u upload) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.files[u.Path]; !ok && len(c.files) >= c.max {
		return errCatalogFull
	}
	c.addLocked(u)
	if c.journal == nil {
		f, err := c.root.OpenFile(UploadsFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		c.journal = f
	}
	line, _ := json.Marshal(u)
	_, err := c.journal.Write(append(line, '\n'))
	return err
}

func (c *catalog) addLocked(u upload) {
	if old, ok := c.files[u.Path]; ok {
		c.dropLocked(old.Path)
	}
	if len(c.files) >= c.max {
		return
	}
	c.files[u.Path] = u
	if u.Identity != "" {
		m := c.mine[u.Identity]
		if m == nil {
			m = map[string]struct{}{}
			c.mine[u.Identity] = m
		}
		m[u.Path] = struct{}{}
	}
}

func (c *catalog) dropLocked(p string) {
	u, ok := c.files[p]
	if !ok {
		return
	}
	delete(c.files, p)
	if m := c.mine[u.Identity]; m != nil {
		delete(m, p)
		if len(m) == 0 {
			delete(c.mine, u.Identity)
		}
	}
}

// lookup returns the record of the file at p, if there is one.
func (c *catalog) lookup(p string) (upload, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.files[p]
	return u, ok
}

// uploadedBy returns the paths that identity uploaded at or under dir
// ("" for all), in path order, at most limit+1 of them.
func (c *catalog) uploadedBy(identity, dir string, limit int) []string {
	c.mu.Lock()
	var out []string
	for p := range c.mine[identity] {
		if dir == "" || p == dir || strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	c.mu.Unlock()
	slices.Sort(out)
	return out[:min(len(out), limit+1)]
}

func (c *catalog) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.journal == nil {
		return nil
	}
	err := c.journal.Close()
	c.journal = nil
	return err
}

// entryOf is the listing entry of a stored file or folder at p.
func entryOf(p string, info fs.FileInfo, u upload, recorded bool) protocol.Entry {
	e := protocol.Entry{Path: p, Mode: uint32(info.Mode().Perm()), MTime: info.ModTime().UnixNano()}
	if info.IsDir() {
		e.Dir = true
		return e
	}
	e.Size = info.Size()
	if recorded {
		e.By, e.ByIdentity, e.At, e.Hash = u.By, u.Identity, u.At, u.Hash
	}
	return e
}
