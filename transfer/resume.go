package transfer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
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
// bits of HMAC-SHA256(key, path, size, mtime), in hex.
func ResumeToken(key []byte, f protocol.File) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "muxfer resume v1\x00%s\x00%d\x00%d", f.Path, f.Size, f.MTime)
	return hex.EncodeToString(m.Sum(nil)[:protocol.ResumeTokenLen/2])
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

// maxRecords bounds the stored files a receiver remembers for resumes.
const maxRecords = 100_000

// resumePoint is what the receiver holds of one file of an offer.
type resumePoint struct {
	key    string // the token's digest; "" if the file does not resume
	offset int64  // bytes held
	hash   string // of those bytes, when offset > 0
	stored string // the name under which the whole file is stored already, if it is
}

// record is a file stored with a resume token.
type record struct {
	stored, hash string
	size, mtime  int64
	at           time.Time
}

// book is the receiver's memory of resumable files: the keys of the files
// being received (so that two offers never write one part) and the records
// of files stored.
type book struct {
	mu       sync.Mutex
	claimed  map[string]bool
	released chan struct{} // closed and replaced whenever a key is released
	records  map[string]record
	order    []recordAge // oldest first; a key stored again is listed again

	persist  bool     // OpenRecords was called: records go to the records file too
	journal  *os.File // the records file, once open
	appended int      // lines appended to it since it was last rewritten
}

type recordAge struct {
	key string
	at  time.Time
}

// claim reserves key for one file. If another transfer holds it, claim
// waits for it until deadline, and then gives up and returns false.
func (b *book) claim(key string, deadline time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.claimed[key] {
		if b.released == nil {
			b.released = make(chan struct{})
		}
		released := b.released
		wait := time.Until(deadline)
		if wait <= 0 {
			return false
		}
		b.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-released:
		case <-t.C:
		}
		t.Stop()
		b.mu.Lock()
	}
	if b.claimed == nil {
		b.claimed = map[string]bool{}
	}
	b.claimed[key] = true
	return true
}

func (b *book) unclaim(key string) {
	if key == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.claimed, key)
	if b.released != nil {
		close(b.released)
		b.released = nil
	}
}

// lookup returns the record of key, if it is younger than keep.
func (b *book) lookup(key string, keep time.Duration) (record, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec, ok := b.records[key]
	if ok && time.Since(rec.at) > keep {
		delete(b.records, key)
		return record{}, false
	}
	return rec, ok
}

func (b *book) forget(key string) {
	b.mu.Lock()
	delete(b.records, key)
	b.mu.Unlock()
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
	b.records[key] = rec
	b.order = append(b.order, recordAge{key, rec.at})
	for len(b.order) > 0 {
		old := b.order[0]
		if len(b.records) <= maxRecords && len(b.order) <= 2*maxRecords && time.Since(old.at) <= keep {
			break
		}
		if b.records[old.key].at.Equal(old.at) { // not stored again since
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

// claimWait bounds how long an offer waits for the tokens that another
// transfer holds. A sender that comes back after a cut usually finds the
// old transfer still holding its files for a moment, until the receiver
// notices the old connection is gone.
const claimWait = 2 * time.Second

// findResume claims the key of every file of o offered with a token and
// looks for what the receiver holds of it: a record of the file stored,
// or a part. It returns one point per entry and the bytes held, which the
// offer need not promise. A file whose key another transfer holds for
// longer than claimWait, or whose part cannot be read, is received from
// byte 0.
func (r *Receiver) findResume(o protocol.Offer) ([]resumePoint, int64) {
	var pts []resumePoint
	var held int64
	wait := claimWait
	if r.claimWait != 0 {
		wait = r.claimWait
	}
	deadline := time.Now().Add(wait)
	for i, f := range o.Files {
		if f.Dir || f.Resume == "" {
			continue
		}
		key := partKey(f.Resume)
		if !r.book.claim(key, deadline) {
			continue
		}
		if pts == nil {
			pts = make([]resumePoint, len(o.Files))
		}
		pts[i] = r.lookFor(f, key)
		held += pts[i].offset
	}
	return pts, held
}

// lookFor finds what the receiver holds of f, whose key it has claimed.
func (r *Receiver) lookFor(f protocol.File, key string) resumePoint {
	pt := resumePoint{key: key}
	if rec, ok := r.book.lookup(key, r.keepParts()); ok {
		if r.stillStored(rec, f) {
			pt.offset, pt.hash, pt.stored = f.Size, rec.hash, rec.stored
			return pt
		}
		r.book.forget(key)
	}
	part := path.Join(path.Dir(f.Path), keyPartName(key))
	info, err := r.root.Lstat(part)
	if err != nil || !info.Mode().IsRegular() || info.Size() == 0 || info.Size() > f.Size {
		return pt // from byte 0; store truncates or replaces what is there
	}
	sum, err := r.hashPrefix(part, info.Size())
	if err != nil {
		return pt
	}
	pt.offset, pt.hash = info.Size(), sum
	return pt
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

// hashPrefix hashes the first n bytes of the file at name.
func (r *Receiver) hashPrefix(name string, n int64) (string, error) {
	f, err := r.root.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := newHash()
	if err := readPrefix(h, f, n); err != nil {
		return "", err
	}
	return formatHash(h), nil
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
func (r *Receiver) Sweep() (int, error) {
	cutoff := time.Now().Add(-r.keepParts())
	removed := 0
	err := fs.WalkDir(r.root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
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
	return removed, err
}

// removeIdlePart removes a part unless a transfer holds its key. The book
// stays locked meanwhile, so no offer can claim the part as it goes.
func (r *Receiver) removeIdlePart(name, base string) bool {
	key := strings.TrimSuffix(strings.TrimPrefix(base, partPrefix), ".part")
	r.book.mu.Lock()
	defer r.book.mu.Unlock()
	if r.book.claimed[key] {
		return false
	}
	return r.root.Remove(name) == nil
}
