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

	root      *os.Root
	freeSpace func() (int64, error)                     // on the root's file system; tests replace it
	mkdir     func(name string, perm fs.FileMode) error // root.Mkdir; tests replace it
	admit     sync.Mutex                                // held from reading the free space to promising it
	promised  atomic.Int64                              // bytes accepted offers may still write
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
	nonce string // names this transfer's .part files; unique to this receiver

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
	f := in.offer.Files[h.File]
	owed := &debt{in.r, f.Size}
	var err error
	if h.Offset != 0 {
		err = fmt.Errorf("resume at offset %d is not supported", h.Offset)
	} else {
		res.Stored, res.Hash, err = in.r.store(f, partName(in.nonce, h.File), src, owed)
	}
	owed.settle()
	if err != nil {
		res.Hash, res.Error = "", fmt.Sprintf("%s: %v", f.Path, err)
	}
	in.finish(h.File, err == nil)
	return res, nil
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
	in.r.release(in.offer.Files[idx].Size)
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

// store writes exactly f.Size bytes from src into a .part file, checks the
// trailer's hash against its own, syncs the file and links it under its
// final name. Every byte written is also written to owed, which releases
// the space promised to it. On any error the .part is removed and nothing
// else is left.
func (r *Receiver) store(f protocol.File, part string, src io.Reader, owed io.Writer) (stored, sum string, err error) {
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
	// O_EXCL: a file already there is not ours, whatever its name says.
	out, err := r.root.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode(f.Mode))
	if err != nil {
		return "", "", pathErr(err)
	}
	defer func() {
		if out != nil {
			out.Close()
		}
		if err != nil {
			r.root.Remove(part)
		}
	}()

	h := newHash()
	if err := copyExactly(io.MultiWriter(out, h, owed), src, f.Size); err != nil {
		return "", "", err
	}
	tr, err := protocol.ReadTrailer(src)
	if err != nil {
		return "", "", fmt.Errorf("sender did not finish the file: %w", err)
	}
	if sum = formatHash(h); tr.Hash != sum {
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
