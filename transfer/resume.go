package transfer

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/muxfer/muxfer/protocol"
)

// How a cut transfer continues.
//
// A sender gives each regular file a token (protocol.File.Resume) that it
// derives from a secret of its own (SendOptions.ResumeKey) and the file's
// path, size and mtime: the same file sent again carries the same token,
// and nobody without the secret can guess it. The receiver names the
// file's .part after a digest of the token, in the folder the file goes
// to, and keeps the part when the stream breaks. When an offer lists the
// token again, the receiver hashes the part and reports its length and
// hash in Accept (protocol.Have); the sender hashes the same prefix of its
// own file and continues from there if the hashes agree, or starts again
// from byte 0 if not. The whole file's hash is checked at the end either
// way.
//
// A file that was stored, but whose Result never reached the sender (the
// connection broke in between), is remembered by the same digest with the
// name it was stored under and its hash. Offering it again then confirms
// it, with a stream that carries only the trailer, rather than storing a
// second copy.

// ResumeToken returns the resume token of f under key: the first 128
// bits of HMAC-SHA256(key, "muxfer resume v1\x00" path "\x00" size
// "\x00" mtime), size and mtime in decimal, in hex.
func ResumeToken(key []byte, f protocol.File) string { return newTokenMAC(key).token(f) }

// tokenMAC makes the resume tokens of many files under one key, with one
// HMAC reset for each: a new HMAC and fmt for every file were 3% of the
// sender's time for 5,000 files of 4 KiB.
type tokenMAC struct {
	mac hash.Hash
	buf []byte
}

func newTokenMAC(key []byte) *tokenMAC { return &tokenMAC{mac: hmac.New(sha256.New, key)} }

func (t *tokenMAC) token(f protocol.File) string {
	b := append(t.buf[:0], "muxfer resume v1\x00"...)
	b = append(b, f.Path...)
	b = strconv.AppendInt(append(b, 0), f.Size, 10)
	b = strconv.AppendInt(append(b, 0), f.MTime, 10)
	t.mac.Reset()
	t.mac.Write(b)
	t.buf = t.mac.Sum(b[:0])
	return hex.EncodeToString(t.buf[:protocol.ResumeTokenLen/2])
}

// checkResumeToken accepts "" or exactly ResumeTokenLen lowercase hex
// digits.
func checkResumeToken(t string) error {
	if t == "" {
		return nil
	}
	if len(t) != protocol.ResumeTokenLen {
		return fmt.Errorf("resume token of %d characters, want %d", len(t), protocol.ResumeTokenLen)
	}
	for _, c := range []byte(t) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return errors.New("resume token is not lowercase hex")
		}
	}
	return nil
}

// partPrefix starts the name of every file the receiver writes before a
// file is complete. Offered names may not start with it.
const partPrefix = ".muxfer-"

// isPartName reports whether a file name is one of the receiver's parts.
func isPartName(name string) bool {
	return strings.HasPrefix(name, partPrefix) && strings.HasSuffix(name, ".part")
}

// partKey is the digest of a resume token that names its part and its
// record. The token itself is never written to disk, so reading the
// receiver's folder does not let anyone continue a file.
func partKey(token string) string {
	sum := sha256.Sum256([]byte("muxfer part\x00" + token))
	return hex.EncodeToString(sum[:16])
}

func keyPartName(key string) string { return partPrefix + key + ".part" }

// DefaultKeepParts is how long a receiver keeps a part, or the record of
// a stored file, for a sender that may come back to resume it.
const DefaultKeepParts = 48 * time.Hour

// maxRecords and maxRecordBytes bound the stored files a receiver
// remembers for resumes: at most 100 000, and about 16 MiB of names.
const (
	maxRecords     = 100_000
	maxRecordBytes = 16 << 20
)

// recordCost is roughly the memory a record takes.
func recordCost(key string, rec record) int { return len(key) + len(rec.stored) + len(rec.hash) + 96 }

// resumePoint is what the receiver holds of one file of an offer.
type resumePoint struct {
	key    string    // the token's digest; "" if the file does not resume
	offset int64     // bytes held
	hash   string    // of those bytes, when offset > 0
	stored string    // the name under which the whole file is stored already, if it is
	state  *fileHash // for a large part: the hash state after offset bytes; read only
	found  bool      // something is at the part's name: store removes it before it starts from 0
}

// record is a file stored with a resume token.
type record struct {
	stored, hash string
	size, mtime  int64
	at           time.Time
}

// book is the receiver's memory of resumable files: the keys of the files
// being received (so that two offers never write one part), the hash
// states of kept parts, and the records of files stored.
type book struct {
	mu       sync.Mutex
	claimed  map[string]*claim
	released chan struct{} // closed and replaced whenever a key is released
	states   map[string]partState
	stateAge []string // keys of states, oldest first
	records  map[string]record
	order    []recordAge // oldest first; a key stored again is listed again
	bytes    int         // of the records, roughly

	persist  bool     // OpenRecords was called: records go to the records file too
	journal  *os.File // the records file, once open
	appended int      // lines appended to it since it was last rewritten
}

type recordAge struct {
	key string
	at  time.Time
}

// lookup returns the record of key, if it is younger than keep.
func (b *book) lookup(key string, keep time.Duration) (record, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec, ok := b.records[key]
	if ok && time.Since(rec.at) > keep {
		b.drop(key)
		return record{}, false
	}
	return rec, ok
}

func (b *book) forget(key string) {
	b.mu.Lock()
	b.drop(key)
	b.mu.Unlock()
}

// drop removes the record of key; b.mu is held.
func (b *book) drop(key string) {
	if rec, ok := b.records[key]; ok {
		b.bytes -= recordCost(key, rec)
		delete(b.records, key)
	}
}

// remember records a stored file, in memory and in the records file if
// OpenRecords opened it.
func (r *Receiver) remember(key string, rec record) {
	r.book.mu.Lock()
	defer r.book.mu.Unlock()
	r.book.add(key, rec, r.keepParts())
	r.journalRecord(key, rec)
}

// add records a stored file, dropping the oldest records beyond
// maxRecords or older than keep; b.mu is held.
func (b *book) add(key string, rec record, keep time.Duration) {
	if b.records == nil {
		b.records = map[string]record{}
	}
	if prev, ok := b.records[key]; ok {
		b.bytes -= recordCost(key, prev)
	}
	b.records[key] = rec
	b.bytes += recordCost(key, rec)
	b.order = append(b.order, recordAge{key, rec.at})
	for len(b.order) > 0 {
		old := b.order[0]
		if len(b.records) <= maxRecords && b.bytes <= maxRecordBytes && len(b.order) <= 2*maxRecords && time.Since(old.at) <= keep {
			break
		}
		if prev, ok := b.records[old.key]; ok && prev.at.Equal(old.at) { // not stored again since
			b.bytes -= recordCost(old.key, prev)
			delete(b.records, old.key)
		}
		b.order = b.order[1:]
	}
}

// keepParts is how long parts and records are kept.
func (r *Receiver) keepParts() time.Duration {
	if r.KeepParts <= 0 {
		return DefaultKeepParts
	}
	return r.KeepParts
}

// findResume claims the key of every file of in's offer given with a
// token, and looks for what the receiver holds of it: a record of the file
// stored, or a part. It returns the bytes held, which the offer need not
// promise (a stored file is promised nothing, unless its sender sends it
// again from byte 0: Receive promises it then). A file whose part cannot be read is
// received from byte 0. It fails with ErrBusy, releasing what it claimed,
// if another transfer still holds a token claimWait after being asked to
// let go.
func (r *Receiver) findResume(in *Incoming) (held int64, err error) {
	wait := claimWait
	if r.claimWait != 0 {
		wait = r.claimWait
	}
	deadline := time.Now().Add(wait)
	for i, f := range in.offer.Files {
		if f.Dir || f.Resume == "" {
			continue
		}
		if in.points == nil {
			in.points = make([]resumePoint, len(in.offer.Files))
		}
		key := partKey(f.Resume)
		if !r.claim(key, in, i, deadline) {
			in.releaseTokens()
			return 0, fmt.Errorf("%w: %s is still being received by an earlier transfer", ErrBusy, f.Path)
		}
		in.points[i].key = key
	}
	// Parts are looked for once every key is held: no other transfer can
	// then write one of them, so a folder missing now holds none of them.
	var look partFolder
	defer look.close()
	for i, pt := range in.points {
		if pt.key != "" {
			in.points[i] = r.lookFor(in.offer.Files[i], pt.key, &look)
			held += in.points[i].offset
		}
	}
	return held, nil
}

// partFolder holds open the folder parts were last looked for in. An
// offer lists a folder's files together (Scan walks one folder at a
// time), so each folder is opened once, or found missing once, rather
// than walked to for every file: for 5,000 files in 50 new folders that
// was five system calls per file. One folder at most is open.
type partFolder struct {
	dir    string
	root   *os.Root // nil: dir is missing, or cannot be opened
	looked bool     // dir and root are set
}

// open returns the folder dir, or nil if it cannot be opened.
func (p *partFolder) open(r *Receiver, dir string) *os.Root {
	if p.looked && p.dir == dir {
		return p.root
	}
	p.close()
	p.dir, p.looked = dir, true
	if root, err := r.root.OpenRoot(dir); err == nil {
		p.root = root
	}
	return p.root
}

func (p *partFolder) close() {
	if p.root != nil {
		p.root.Close()
	}
	*p = partFolder{}
}

// ErrBusy reports an offer of a file that an earlier transfer is still
// receiving: the same offer made again shortly will find it free.
var ErrBusy = errors.New("busy")

// lookFor finds what the receiver holds of f, whose key it has claimed;
// look holds the folder of the file looked for before.
func (r *Receiver) lookFor(f protocol.File, key string, look *partFolder) resumePoint {
	pt := resumePoint{key: key}
	if rec, ok := r.book.lookup(key, r.keepParts()); ok {
		if r.stillStored(rec, f) {
			pt.offset, pt.hash, pt.stored = f.Size, rec.hash, rec.stored
			return pt
		}
		r.book.forget(key)
	}
	folder := look.open(r, path.Dir(f.Path))
	if folder == nil {
		return pt // no folder, no part
	}
	part := keyPartName(key)
	info, err := folder.Lstat(part)
	pt.found = err == nil
	if err != nil || !info.Mode().IsRegular() || info.Size() == 0 || info.Size() > f.Size || linkCount(info) > 1 {
		// From byte 0: store replaces what is there. (A part with a second
		// name is one that was placed and then not removed: its bytes are
		// a stored file's, not to be written to.)
		return pt
	}
	h, err := r.partHash(folder, part, key, info)
	if err != nil {
		return pt
	}
	pt.offset, pt.hash = info.Size(), formatHash(h)
	if pt.offset >= minStateSize {
		pt.state = h
	}
	return pt
}

// minStateSize is the smallest part whose hash state the receiver keeps,
// rather than read the part again. A state costs about 11 KB; reading
// 4 MiB costs a few milliseconds.
const minStateSize = 4 << 20

// maxStates bounds the hash states kept.
const maxStates = 256

// partState is the hash of a part's bytes, kept so that neither an offer
// nor the resume that follows reads a large part again.
type partState struct {
	size    int64
	modTime time.Time
	h       *fileHash
}

// partHash returns the hash state of the part name in folder: the one
// kept for key if the part has not changed since (same size and mtime),
// else one computed now, and kept if the part is large.
func (r *Receiver) partHash(folder *os.Root, name, key string, info fs.FileInfo) (*fileHash, error) {
	b := &r.book
	b.mu.Lock()
	st, ok := b.states[key]
	b.mu.Unlock()
	if ok && st.size == info.Size() && st.modTime.Equal(info.ModTime()) {
		return st.h, nil
	}
	f, err := folder.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := newHash()
	if err := readPrefix(h, f, info.Size()); err != nil {
		return nil, err
	}
	r.keepState(key, info, h)
	return h, nil
}

// keepState keeps the hash state h of a part, if it is large, in place of
// any kept for key; the oldest go beyond maxStates. A state kept is never
// written to again: whoever continues from it clones it.
func (r *Receiver) keepState(key string, info fs.FileInfo, h *fileHash) {
	if info.Size() < minStateSize {
		return
	}
	b := &r.book
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.states == nil {
		b.states = map[string]partState{}
	}
	if _, ok := b.states[key]; !ok {
		b.stateAge = append(b.stateAge, key)
	}
	b.states[key] = partState{info.Size(), info.ModTime(), h}
	for len(b.states) > maxStates && len(b.stateAge) > 0 {
		delete(b.states, b.stateAge[0])
		b.stateAge = b.stateAge[1:]
	}
}

// dropState forgets the hash state of key, whose part is gone or about
// to change.
func (r *Receiver) dropState(key string) {
	b := &r.book
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.states[key]; !ok {
		return
	}
	delete(b.states, key)
	for i, k := range b.stateAge {
		if k == key {
			b.stateAge = append(b.stateAge[:i], b.stateAge[i+1:]...)
			break
		}
	}
}

// stillStored reports whether the file a record names is still there as
// it was stored: a regular file of the offered size and mtime.
func (r *Receiver) stillStored(rec record, f protocol.File) bool {
	if rec.size != f.Size || rec.mtime != f.MTime {
		return false
	}
	info, err := r.root.Lstat(rec.stored)
	return err == nil && info.Mode().IsRegular() && info.Size() == f.Size && info.ModTime().UnixNano() == f.MTime
}

// readPrefix copies exactly n bytes of src into dst.
func readPrefix(dst io.Writer, src io.Reader, n int64) error {
	buf := getBuf()
	defer putBuf(buf)
	k, err := io.CopyBuffer(dst, io.LimitReader(src, n), *buf)
	if err == nil && k < n {
		err = fmt.Errorf("only %d of %d bytes to read", k, n)
	}
	return err
}

// Sweep removes the parts that nothing has written to for KeepParts
// (default DefaultKeepParts): left by transfers that were cut and not
// resumed, or by a receiver that crashed. Parts of files being received
// stay. It returns how many it removed. A hub sweeps when it starts and
// every hour.
func (r *Receiver) Sweep() (int, error) { return r.SweepContext(context.Background(), 0) }

// errSweepDone stops SweepContext's walk.
var errSweepDone = errors.New("sweep: done")

// SweepContext is Sweep that stops when ctx ends, or once it has looked at
// limit entries of the folder (0: no limit), so that a client receiving
// into a large folder (a home folder, say) spends a bounded time on it.
func (r *Receiver) SweepContext(ctx context.Context, limit int) (int, error) {
	cutoff := time.Now().Add(-r.keepParts())
	removed, seen := 0, 0
	err := fs.WalkDir(r.root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if seen++; ctx.Err() != nil || limit > 0 && seen > limit {
			return errSweepDone
		}
		if err != nil {
			if name == "." {
				return err
			}
			return nil // an unreadable folder: sweep the rest
		}
		if d.IsDir() || !isPartName(d.Name()) {
			return nil
		}
		info, err := d.Info()
		if err != nil || !info.Mode().IsRegular() || info.ModTime().After(cutoff) {
			return nil
		}
		if r.removeIdlePart(name, d.Name()) {
			removed++
		}
		return nil
	})
	if errors.Is(err, errSweepDone) {
		err = ctx.Err()
	}
	return removed, err
}

// removeIdlePart removes a part unless a transfer holds its key. The book
// stays locked meanwhile, so no offer can claim the part as it goes.
func (r *Receiver) removeIdlePart(name, base string) bool {
	key := strings.TrimSuffix(strings.TrimPrefix(base, partPrefix), ".part")
	r.book.mu.Lock()
	defer r.book.mu.Unlock()
	if r.book.claimed[key] != nil {
		return false
	}
	return r.root.Remove(name) == nil
}
