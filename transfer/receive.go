package transfer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/muxfer/muxfer/protocol"
)

// Receiver stores incoming files under one directory. Every file operation
// goes through an os.Root, so no path, symlink or race can reach outside it.
// Its methods are safe for concurrent use.
type Receiver struct {
	// Limits bound each offer. Set them before the first Prepare; the zero
	// value means the defaults.
	Limits Limits
	// KeepParts is how long the part of a cut file, and the record of a
	// stored one, are kept for a sender that comes back to resume it.
	// 0 means DefaultKeepParts. Set it before the first Prepare.
	KeepParts time.Duration

	root      *os.Root
	freeSpace func() (int64, error)                     // on the root's file system; tests replace it
	mkdir     func(name string, perm fs.FileMode) error // root.Mkdir; tests replace it
	admit     sync.Mutex                                // held from reading the free space to promising it
	promised  atomic.Int64                              // bytes accepted offers may still write
	book      book                                      // resumable files
	claimWait time.Duration                             // if set, replaces claimWait (tests)
}

// NewReceiver returns a receiver that stores files under root, with the
// default Limits.
func NewReceiver(root *os.Root) *Receiver {
	return &Receiver{root: root, freeSpace: func() (int64, error) { return statfsFreeSpace(root) }, mkdir: root.Mkdir}
}

// Incoming is one accepted transfer. Its methods are safe for concurrent
// use, as each file arrives on its own stream.
type Incoming struct {
	r     *Receiver
	offer protocol.Offer
	nonce string // names the .part files of files without a resume token

	points []resumePoint // per entry, for files offered with a token; nil if none

	mu    sync.Mutex
	state []fileState
	left  int // files not yet finished
	stats Stats
}

type fileState uint8

const (
	waiting fileState = iota
	receiving
	finished
	givenUp // cancelled by the sender, or abandoned by the receiver
)

// Transfer is the id of the offer.
func (in *Incoming) Transfer() string { return in.offer.Transfer }

// Accept is the answer to the offer: it lists what the receiver holds
// already of the files offered with a resume token.
func (in *Incoming) Accept() protocol.Accept {
	a := protocol.Accept{Transfer: in.offer.Transfer}
	for i, pt := range in.points {
		if pt.offset > 0 {
			a.Have = append(a.Have, protocol.Have{File: i, Offset: pt.offset, Hash: pt.hash})
		}
	}
	return a
}

// point returns what the receiver held of file idx when the offer came.
func (in *Incoming) point(idx int) resumePoint {
	if in.points == nil {
		return resumePoint{}
	}
	return in.points[idx]
}

// Done reports whether every file has finished, one way or the other.
func (in *Incoming) Done() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.left == 0
}

// Receive reads one file from a data stream whose header was h, stores it,
// and returns the Result to send back. The error is for a stream that
// breaks the protocol (unknown file, the same file twice): no Result is due
// for it.
func (in *Incoming) Receive(h protocol.DataHeader, src io.Reader) (protocol.Result, error) {
	if err := in.claim(h.File); err != nil {
		return protocol.Result{}, err
	}
	res := protocol.Result{Transfer: in.offer.Transfer, File: h.File}
	f, pt := in.offer.Files[h.File], in.point(h.File)
	owed := &debt{in.r, f.Size - pt.offset} // what Prepare promised
	var err error
	switch {
	case h.Offset != 0 && (pt.key == "" || h.Offset != pt.offset):
		err = fmt.Errorf("cannot resume at byte %d: the receiver holds %d", h.Offset, pt.offset)
	case pt.stored != "" && h.Offset == f.Size:
		res.Stored, res.Hash, err = confirm(pt, src)
	default:
		part := partName(in.nonce, h.File)
		if pt.key != "" {
			part = keyPartName(pt.key)
		}
		res.Stored, res.Hash, err = in.r.store(f, part, h.Offset, pt.key != "", src, owed)
	}
	owed.settle()
	if err != nil {
		res.Hash, res.Error = "", fmt.Sprintf("%s: %v", f.Path, err)
	} else if pt.key != "" {
		in.r.remember(pt.key, record{stored: res.Stored, hash: res.Hash, size: f.Size, mtime: f.MTime, at: time.Now()})
	}
	in.finish(h.File, err == nil)
	return res, nil
}

// confirm answers a stream for a file the receiver stored already: it
// carries no bytes, only the sender's trailer, whose hash must be the
// stored file's.
func confirm(pt resumePoint, src io.Reader) (stored, sum string, err error) {
	tr, err := protocol.ReadTrailer(src)
	if err != nil {
		return "", "", fmt.Errorf("sender did not finish the file: %w", err)
	}
	if tr.Hash != pt.hash {
		return "", "", fmt.Errorf("hash mismatch: sender %s, stored %s", tr.Hash, pt.hash)
	}
	return pt.stored, pt.hash, nil
}

// Cancel marks a file that the sender gave up on as failed, and releases
// the space promised to it.
func (in *Incoming) Cancel(idx int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if idx >= 0 && idx < len(in.state) && in.state[idx] == waiting {
		in.giveUp(idx)
	}
}

// Abandon gives up on every file that has not started to arrive: each
// counts as failed, the space promised to it is released, and a data
// stream for it is refused as for a cancelled file. Files being received
// finish on their own. The owner of a transfer abandons it when the
// connection it came on ends, so that a sender that goes away does not
// keep disk space promised for ever.
func (in *Incoming) Abandon() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i, st := range in.state {
		if st == waiting {
			in.giveUp(i)
		}
	}
}

// giveUp finishes a waiting file as failed; in.mu is held.
func (in *Incoming) giveUp(idx int) {
	in.state[idx] = givenUp
	in.left--
	in.stats.Failed++
	pt := in.point(idx)
	in.r.release(in.offer.Files[idx].Size - pt.offset)
	in.r.book.unclaim(pt.key)
}

// Stats returns the counts so far.
func (in *Incoming) Stats() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stats
}

func (in *Incoming) claim(idx int) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch {
	case idx < 0 || idx >= len(in.state):
		return fmt.Errorf("transfer %s has no file %d", in.offer.Transfer, idx)
	case in.offer.Files[idx].Dir:
		return fmt.Errorf("transfer %s: entry %d is a folder", in.offer.Transfer, idx)
	case in.state[idx] == givenUp:
		return fmt.Errorf("transfer %s: file %d was given up, and then sent", in.offer.Transfer, idx)
	case in.state[idx] != waiting:
		return fmt.Errorf("transfer %s: file %d sent twice", in.offer.Transfer, idx)
	}
	in.state[idx] = receiving
	return nil
}

func (in *Incoming) finish(idx int, ok bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.state[idx] = finished
	in.left--
	in.r.book.unclaim(in.point(idx).key)
	if ok {
		in.stats.Stored++
		in.stats.Bytes += in.offer.Files[idx].Size
	} else {
		in.stats.Failed++
	}
}

// partName is the temporary name of file idx of a transfer, in the folder
// the file will end up in. nonce is chosen by the receiver (64 random
// bits), so no sender can make two transfers share a part, and the name's
// length does not depend on the file's.
func partName(nonce string, idx int) string {
	return fmt.Sprintf(".muxfer-%s-%d.part", nonce, idx)
}

// store writes the bytes of f from offset on, read from src, into the
// part (a name in f's folder), checks the trailer's hash against its own
// of the whole file, syncs the file and links it under its final name.
// Every byte written is also written to owed, which releases the space
// promised to it.
//
// A part without a resume token is new (created exclusively) and is
// removed on any error. A resumable part is kept when the stream breaks
// or the disk fills up, for the sender to resume; it is removed only when
// its bytes are wrong.
func (r *Receiver) store(f protocol.File, part string, offset int64, resumable bool, src io.Reader, owed io.Writer) (stored, sum string, err error) {
	// Checked again now that the file arrives: a link may have been
	// planted since the offer was accepted.
	if err := r.refuseLinks(f.Path); err != nil {
		return "", "", err
	}
	dir := path.Dir(f.Path)
	if dir != "." {
		if err := r.root.MkdirAll(dir, 0o755); err != nil {
			return "", "", pathErr(err)
		}
	}
	part = path.Join(dir, part)
	h := newHash()
	out, err := r.openPart(part, offset, resumable, fileMode(f.Mode), h)
	if err != nil {
		return "", "", err
	}
	keep := resumable
	defer func() {
		if err != nil && keep && out != nil {
			// A part with no bytes resumes nothing: not worth keeping.
			if info, serr := out.Stat(); serr == nil && info.Size() == 0 {
				keep = false
			}
		}
		if out != nil {
			out.Close()
		}
		if err != nil && !keep {
			r.root.Remove(part)
		}
	}()

	if err := copyExactly(io.MultiWriter(out, h, owed), src, f.Size-offset); err != nil {
		return "", "", err
	}
	tr, err := protocol.ReadTrailer(src)
	if err != nil {
		return "", "", fmt.Errorf("sender did not finish the file: %w", err)
	}
	if sum = formatHash(h); tr.Hash != sum {
		keep = false
		return "", "", fmt.Errorf("hash mismatch: sender %s, received %s", tr.Hash, sum)
	}
	if err := out.Sync(); err != nil {
		return "", "", err
	}
	err, out = out.Close(), nil
	if err != nil {
		return "", "", err
	}
	if stored, err = r.place(part, f.Path); err != nil {
		return "", "", err
	}
	r.root.Chtimes(stored, time.Time{}, time.Unix(0, f.MTime))
	return stored, sum, nil
}

// openPart opens the part for writing at offset. At offset 0 a new part
// is created, exclusively unless it is resumable (a resumable part there
// is this file's, from an earlier try, and starts again empty). At a
// later offset the part's first offset bytes are read into h, so that the
// hash covers the whole file.
func (r *Receiver) openPart(part string, offset int64, resumable bool, mode fs.FileMode, h io.Writer) (*os.File, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	switch {
	case offset > 0:
		flags = os.O_RDWR
	case resumable:
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	// O_EXCL: a file already there is not ours, whatever its name says.
	out, err := r.root.OpenFile(part, flags, mode)
	if err != nil || offset == 0 {
		return out, pathErr(err)
	}
	if err := readPrefix(h, out, offset); err != nil {
		out.Close()
		return nil, fmt.Errorf("partial file: %w", pathErr(err))
	}
	// Anything past offset is from an attempt that ended later than the
	// one the offer saw; the sender sends it again.
	if err := out.Truncate(offset); err != nil {
		out.Close()
		return nil, pathErr(err)
	}
	return out, nil
}

// copyExactly copies n bytes and calls anything less an error: a stream
// that ends early is a cut connection, never a short file.
func copyExactly(dst io.Writer, src io.Reader, n int64) error {
	buf := getBuf()
	defer putBuf(buf)
	for done := int64(0); done < n; {
		k, err := src.Read((*buf)[:min(n-done, int64(len(*buf)))])
		if k > 0 {
			if _, werr := dst.Write((*buf)[:k]); werr != nil {
				return pathErr(werr)
			}
			done += int64(k)
		}
		if err != nil && done < n {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("stream ended after %d of %d bytes: %w", done, n, err)
		}
	}
	return nil
}

// place gives the finished .part its final name without ever replacing an
// existing file: it hard-links the part under the first free name among
// "a.txt", "a (1).txt", "a (2).txt"… (link fails if the name exists, so
// there is no race) and then removes the part.
func (r *Receiver) place(part, want string) (string, error) {
	for i := 0; i < 1000; i++ {
		name := numbered(want, i)
		err := r.root.Link(part, name)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil && noHardLinks(err) {
			// A file system without hard links: claim the name with an
			// empty file created exclusively (which fails if the name
			// exists, so no other writer can take it), then rename the
			// part over our own placeholder.
			ph, cerr := r.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if errors.Is(cerr, fs.ErrExist) {
				continue
			}
			if cerr != nil {
				return "", pathErr(cerr)
			}
			ph.Close()
			if err := r.root.Rename(part, name); err != nil {
				r.root.Remove(name)
				return "", pathErr(err)
			}
			return name, nil
		}
		if err != nil {
			return "", pathErr(err)
		}
		r.root.Remove(part)
		return name, nil
	}
	return "", fmt.Errorf("no free name for %s", want)
}

func noHardLinks(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EMLINK)
}

// numbered returns p for i == 0, else p with " (i)" before its extension,
// shortening the name (at a character boundary) if it would not fit in
// MaxComponentLen bytes.
func numbered(p string, i int) string {
	if i == 0 {
		return p
	}
	dir, base := path.Split(p)
	ext := path.Ext(base)
	if ext == base || strings.HasPrefix(base, ".") && strings.Count(base, ".") == 1 || len(ext) > 32 {
		ext = ""
	}
	stem, tag := strings.TrimSuffix(base, ext), fmt.Sprintf(" (%d)", i)
	for len(stem)+len(tag)+len(ext) > MaxComponentLen {
		_, size := utf8.DecodeLastRuneInString(stem)
		stem = stem[:len(stem)-size]
	}
	return dir + stem + tag + ext
}

// fileMode keeps a sender's permission bits but never setuid, setgid,
// sticky or world-writable ones, and always lets the owner read and write.
// The receiver's umask applies on top, as the file is created with it.
func fileMode(m uint32) fs.FileMode { return fs.FileMode(m)&0o775 | 0o600 }

func dirMode(m uint32) fs.FileMode { return fs.FileMode(m)&0o775 | 0o700 }

// pathErr drops the Root's own path prefix from an error, leaving the
// reason: "no space left on device", "permission denied".
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// Stats counts the files of an incoming transfer that were stored and that
// failed, and the bytes stored.
type Stats struct {
	Stored, Failed int
	Bytes          int64
}
