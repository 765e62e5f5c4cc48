package transfer

import (
	"fmt"
	"math"
	"time"

	"github.com/muxfer/muxfer/internal/units"
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
	// file system that holds the receiver's directory, after the room
	// promised to offers still arriving. An offer needs its files' sizes,
	// each rounded up to whole blocks, and a block for each empty file and
	// each folder it creates. 0 means 64 MiB; a negative value keeps
	// nothing in reserve.
	Reserve int64
	// ReserveInodes is how many inodes (the files and folders the file
	// system can still create) an offer must leave free, after those
	// promised to offers still arriving. An offer needs one for each file
	// and each folder it creates. 0 means 1% of the file system's inodes;
	// a negative value keeps none in reserve. A file system that counts
	// no inodes (it reports none in all, as btrfs does) is not asked.
	ReserveInodes int64
	// Stall is how long a file keeps the room promised to it while it
	// makes no progress: a file whose stream has not started that long
	// after the offer was accepted, or that has written no byte for that
	// long, releases it for other offers, and must find room again when
	// its bytes do come. 0 means 30 s, the time mux gives a data stream
	// that makes no progress; a negative value keeps promises until their
	// files end.
	Stall time.Duration
}

const (
	defaultReserve = 64 << 20
	defaultStall   = 30 * time.Second
)

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

// reserveInodes is the inodes kept free on a file system of inodes in
// all: by default 1% of them, rounded up, which on a 1 TB ext4 disk
// (61 million inodes) is 610,000 and on a tmpfs of 1,000 is 10.
func (l Limits) reserveInodes(inodes int64) int64 {
	switch {
	case l.ReserveInodes < 0:
		return 0
	case l.ReserveInodes == 0:
		return (inodes + 99) / 100
	}
	return l.ReserveInodes
}

func (l Limits) stall() time.Duration {
	if l.Stall == 0 {
		return defaultStall
	}
	return l.Stall
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

// formatBytes writes n as muxfer writes sizes everywhere (units.Bytes):
// "512 B", "64.0 MiB", "5.2 GiB".
func formatBytes(n int64) string { return units.Bytes(n) }

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

// Room reports the free space of the receiving folder's file system and
// the part of it that Limits.Reserve keeps: a receiver with less free
// than reserve refuses every offer that needs space. The error is
// errors.ErrUnsupported where the system cannot tell.
func (r *Receiver) Room() (free, reserve int64, err error) {
	disk, err := r.statfs()
	return disk.free, r.Limits.reserve(), err
}
