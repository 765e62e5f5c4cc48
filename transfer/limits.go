package transfer

import (
	"errors"
	"fmt"
	"math"

	"github.com/muxfer/muxfer/protocol"
)

// Limits bound what one offer may ask of a Receiver. The zero value means
// the defaults.
type Limits struct {
	// MaxFiles is the most entries, files and folders, that one offer may
	// list. 0 means 100 000, the protocol's MaxFiles, which also caps it.
	MaxFiles int
	// MaxBytes is the most that the sizes of one offer's files may add up
	// to. 0 means no limit.
	MaxBytes int64
	// Reserve is the free space, in bytes, that an offer must leave on the
	// file system that holds the receiver's directory, after the bytes
	// promised to offers still arriving. 0 means 64 MiB; a negative value
	// keeps nothing in reserve.
	Reserve int64
}

const defaultReserve = 64 << 20

func (l Limits) maxFiles() int {
	if l.MaxFiles <= 0 || l.MaxFiles > MaxFiles {
		return MaxFiles
	}
	return l.MaxFiles
}

func (l Limits) reserve() int64 {
	switch {
	case l.Reserve < 0:
		return 0
	case l.Reserve == 0:
		return defaultReserve
	}
	return l.Reserve
}

// check refuses an offer of more entries or bytes than l allows.
func (l Limits) check(entries int, bytes int64) error {
	if n := l.maxFiles(); entries > n {
		return fmt.Errorf("offer of %d entries is over the limit of %d", entries, n)
	}
	if l.MaxBytes > 0 && bytes > l.MaxBytes {
		a, b := formatBytePair(bytes, l.MaxBytes)
		return fmt.Errorf("offer of %s is over the limit of %s", a, b)
	}
	return nil
}

// offerBytes adds up the sizes of an offer's files. The sum saturates at
// math.MaxInt64 rather than wrap: two files of 2^62 bytes must not add up
// to a negative number that passes every limit.
func offerBytes(o protocol.Offer) int64 {
	var sum int64
	for _, f := range o.Files {
		if f.Dir || f.Size <= 0 {
			continue
		}
		if f.Size > math.MaxInt64-sum {
			return math.MaxInt64
		}
		sum += f.Size
	}
	return sum
}

// promise sets aside n bytes of the root's file system for an offer, or
// says why there is not room for them: the free space, less the bytes
// already promised to offers still arriving, must hold n and the reserve.
// Every byte promised is released as it is written, or when its file
// fails or is given up.
func (r *Receiver) promise(n int64) error {
	if n == 0 {
		return nil
	}
	// One offer at a time from the free-space reading to the promise, so
	// that two offers cannot both count on the same free bytes.
	r.admit.Lock()
	defer r.admit.Unlock()
	// The promise is read before the free space: a file written in between
	// then counts twice, as promised and as used, rather than not at all.
	promised, reserve := r.promised.Load(), r.Limits.reserve()
	free, err := r.freeSpace()
	if errors.Is(err, errors.ErrUnsupported) {
		// No way to ask on this system: the disk's own errors will have to
		// do. The promise is still counted, as it is released.
		free, err = math.MaxInt64, nil
	}
	if err != nil {
		return fmt.Errorf("free space in %s: %w", r.root.Name(), err)
	}
	avail := max(free-promised, 0)
	if n > avail-reserve {
		need, left := formatBytePair(n, avail)
		msg := fmt.Sprintf("offer needs %s but only %s is free in %s (%s kept in reserve",
			need, left, r.root.Name(), formatBytes(reserve))
		if promised > 0 {
			msg += fmt.Sprintf(", %s promised to transfers in progress", formatBytes(promised))
		}
		return errors.New(msg + ")")
	}
	r.promised.Add(n)
	return nil
}

// release gives back n promised bytes.
func (r *Receiver) release(n int64) {
	if n != 0 {
		r.promised.Add(-n)
	}
}

// Promised returns the bytes that accepted offers may still write: the
// sizes of their files, less the bytes already written and the files that
// were stored, failed or given up. Prepare counts them as taken.
func (r *Receiver) Promised() int64 { return r.promised.Load() }

// debt is the part of one file's promise not yet released. As a writer
// it releases what is written through it, so that a large file being
// written does not count twice, as used space and as promised space.
type debt struct {
	r *Receiver
	n int64
}

func (d *debt) Write(p []byte) (int, error) {
	k := min(int64(len(p)), d.n)
	d.r.release(k)
	d.n -= k
	return len(p), nil
}

// settle releases what is left.
func (d *debt) settle() {
	d.r.release(d.n)
	d.n = 0
}

// formatBytes writes n in binary units, as the limits are usually set:
// "512 B", "64.0 MiB", "5.2 GiB".
func formatBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n) / 1024
	const units = "KMGTPE"
	i := 0
	for v >= 1023.95 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, units[i])
}

// formatBytePair writes two sizes that a message compares. When rounding
// would make them look the same ("1.0 GiB is over the limit of 1.0 GiB"),
// both are written exactly.
func formatBytePair(a, b int64) (string, string) {
	fa, fb := formatBytes(a), formatBytes(b)
	if fa == fb && a != b {
		return fmt.Sprintf("%d B", a), fmt.Sprintf("%d B", b)
	}
	return fa, fb
}
