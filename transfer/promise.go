package transfer

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"syscall"
	"time"
)

// An accepted offer is promised the room its files will take, so that
// offers accepted meanwhile cannot count on the same free space. The
// promise is kept as pledges: one for a transfer's files still waiting
// for their streams, made when the offer is accepted, and one for each
// file being received, taken from it when the file's stream starts. A
// pledge lapses when its files make no progress for Limits.Stall: a
// waiting file whose stream has not started by then, a file being
// received that has written no byte for that long. A file whose pledge
// lapsed promises again, against the free space of the moment, before
// it writes anything more: if there is no longer room, the file fails
// with the reason, and its stream goes on to the next file.
//
// The clock runs per file, not per transfer: a transfer that trickled a
// byte of one file now and then would otherwise keep the room of all its
// others. The cost falls on an honest upload that takes longer than the
// stall: its later files find their room again as they start, which
// fails only if the disk filled up meanwhile, as it could have anyway.
//
// Pledges lapse lazily: whoever next asks for room, or for the total,
// first releases those past their time. Nothing needs a timer, and a
// receiver nobody asks anything keeps its pledges, which then cost
// nobody anything.

// diskSpace is what a file system says about its room.
type diskSpace struct {
	free       int64 // bytes available to the receiver
	block      int64 // its block size: what an empty file or a folder takes at least; 0 charges nothing per entry
	inodes     int64 // files and folders it can hold in all; 0 if it does not count them (btrfs)
	freeInodes int64 // of those, how many it can still create
}

// entryBlock is the block size an entry is charged for, from the size a
// file system reports: 4 KiB if it reports none, and 64 KiB at most, as
// some network file systems report their transfer size (up to 1 MiB),
// which no small file takes.
func entryBlock(size int64) int64 {
	switch {
	case size <= 0:
		return 4 << 10
	case size > 64<<10:
		return 64 << 10
	}
	return size
}

// cost is what some entries take on disk.
type cost struct {
	bytes  int64 // the files' contents, still to be written
	slack  int64 // the rest of their blocks: a file's last block, rounded up; a whole one for an empty file or a folder
	inodes int64 // one per file and per folder
}

// fileCost is what a file of size bytes takes, on a file system of
// blocks of block bytes.
func fileCost(size, block int64) cost {
	c := cost{bytes: size, inodes: 1}
	if block > 0 {
		if tail := size % block; tail != 0 || size == 0 {
			c.slack = block - tail
		}
	}
	return c
}

// folderCost is what n new folders take.
func folderCost(n, block int64) cost { return cost{slack: n * block, inodes: n} }

func (c cost) plus(d cost) cost {
	return cost{c.bytes + d.bytes, c.slack + d.slack, c.inodes + d.inodes}
}

func (c cost) minus(d cost) cost {
	return cost{c.bytes - d.bytes, c.slack - d.slack, c.inodes - d.inodes}
}

// atMost is c, each part no more than d's.
func (c cost) atMost(d cost) cost {
	return cost{min(c.bytes, d.bytes), min(c.slack, d.slack), min(c.inodes, d.inodes)}
}

// space is the bytes c takes, saturating rather than wrapping.
func (c cost) space() int64 { return addSat(c.bytes, c.slack) }

func addSat(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}

// pledge is room set aside for files still to come. Its fields are
// guarded by the receiver's pledges.mu.
type pledge struct {
	left   cost      // still set aside
	last   time.Time // when it was made, or its file last wrote
	lapsed bool      // released for want of progress: its files must promise again
}

// room is what receivers on one file system promise: one promise at a
// time (admit, held from reading the free space to promising it), and the
// pledges.
type room struct {
	admit   sync.Mutex
	pledges pledges
}

// pledges are the receiver's pledges that hold anything, and their sum.
type pledges struct {
	mu    sync.Mutex
	live  map[*pledge]struct{}
	total cost
}

// promise sets aside room for what needs, or says why there is none:
// the free space and the free inodes, less what is already promised,
// must hold it and keep the reserves. need is told the file system's
// block size. what names the asker in the error ("offer needs ...").
//
// Every byte promised is released as it is written; the rest when its
// file is stored, fails or is given up, or when the pledge lapses.
func (r *Receiver) promise(what string, need func(block int64) cost) (*pledge, error) {
	// One promise at a time from the free-space reading to the pledge, so
	// that two offers cannot both count on the same free room.
	r.room.admit.Lock()
	defer r.room.admit.Unlock()
	// The promises are read before the free space: a file written in
	// between then counts twice, as promised and as used, rather than not
	// at all.
	p := &r.room.pledges
	p.mu.Lock()
	p.lapse(r.clock(), r.Limits.stall())
	promised := p.total
	p.mu.Unlock()
	disk, err := r.statfs()
	if errors.Is(err, errors.ErrUnsupported) {
		// No way to ask on this system: the disk's own errors will have to
		// do. The promise is still counted, as it is released.
		disk, err = diskSpace{free: math.MaxInt64}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("free space of the receiving folder: %w", err)
	}
	c := need(disk.block)
	if err := r.fits(what, c, promised, disk); err != nil {
		return nil, err
	}
	pl := &pledge{left: c, last: r.clock()}
	p.mu.Lock()
	p.add(pl)
	p.mu.Unlock()
	return pl, nil
}

// fits says why c does not fit on disk beside what is promised, if it
// does not. What needs nothing fits; a file system that counts no
// inodes is not asked for any.
func (r *Receiver) fits(what string, c, promised cost, disk diskSpace) error {
	if n := c.space(); n > 0 {
		reserve := r.Limits.reserve()
		avail := max(disk.free-promised.space(), 0)
		if n > avail-reserve {
			need, left := formatBytePair(n, avail)
			msg := fmt.Sprintf("%s needs %s", what, need)
			if c.slack > 0 {
				msg += fmt.Sprintf(" in blocks of %s", formatBytes(disk.block))
			}
			msg += fmt.Sprintf(" but only %s is free (%s kept in reserve", left, formatBytes(reserve))
			if promised.space() > 0 {
				msg += fmt.Sprintf(", %s promised to transfers in progress", formatBytes(promised.space()))
			}
			return noRoomError(msg + ")")
		}
	}
	if c.inodes > 0 && disk.inodes > 0 {
		reserve := r.Limits.reserveInodes(disk.inodes)
		avail := max(disk.freeInodes-promised.inodes, 0)
		if c.inodes > avail-reserve {
			are := "are"
			if avail == 1 {
				are = "is"
			}
			msg := fmt.Sprintf("%s needs %s, one per file and folder, but only %d %s free (%d kept in reserve",
				what, plural(c.inodes, "inode"), avail, are, reserve)
			if promised.inodes > 0 {
				msg += fmt.Sprintf(", %d promised to transfers in progress", promised.inodes)
			}
			return noRoomError(msg + ")")
		}
	}
	return nil
}

// plural writes n things: "1 inode", "2 inodes".
func plural(n int64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// add counts pl, if it holds anything; p.mu is held.
func (p *pledges) add(pl *pledge) {
	if pl.left == (cost{}) {
		return
	}
	if p.live == nil {
		p.live = map[*pledge]struct{}{}
	}
	p.live[pl] = struct{}{}
	p.total = p.total.plus(pl.left)
}

// take releases up to c from pl; p.mu is held.
func (p *pledges) take(pl *pledge, c cost) cost {
	c = c.atMost(pl.left)
	pl.left = pl.left.minus(c)
	p.total = p.total.minus(c)
	if pl.left == (cost{}) {
		delete(p.live, pl)
	}
	return c
}

// lapse releases every pledge that made no progress for stall (none if
// stall is negative); p.mu is held. Each holds few files, or is one
// transfer's waiting files, so there are few to look at: the files being
// received, and the transfers accepted.
func (p *pledges) lapse(now time.Time, stall time.Duration) {
	if stall < 0 {
		return
	}
	for pl := range p.live {
		if now.Sub(pl.last) >= stall {
			p.take(pl, pl.left)
			pl.lapsed = true
		}
	}
}

// release gives back up to c of pl.
func (r *Receiver) release(pl *pledge, c cost) {
	p := &r.room.pledges
	p.mu.Lock()
	defer p.mu.Unlock()
	p.take(pl, c)
}

// drop gives back all that is left of pl.
func (r *Receiver) drop(pl *pledge) {
	p := &r.room.pledges
	p.mu.Lock()
	defer p.mu.Unlock()
	p.take(pl, pl.left)
}

// split moves c from pl, a transfer's pledge, into a pledge of its own
// for one file whose stream starts now; it returns nil if pl has lapsed.
func (r *Receiver) split(pl *pledge, c cost) *pledge {
	p := &r.room.pledges
	p.mu.Lock()
	defer p.mu.Unlock()
	if pl.lapsed {
		return nil
	}
	own := &pledge{left: p.take(pl, c), last: r.clock()}
	p.add(own)
	return own
}

// Promised returns the bytes that accepted offers may still write: the
// sizes of their files, less the bytes already written and the files that
// were stored, failed or given up, and those whose promise lapsed. Prepare
// counts them as taken, and the blocks and inodes of every file and
// folder still to come as well.
func (r *Receiver) Promised() int64 {
	p := &r.room.pledges
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lapse(r.clock(), r.Limits.stall())
	return p.total.bytes
}

// promisedEntries is what Promised leaves out: the slack bytes and the
// inodes promised.
func (r *Receiver) promisedEntries() (slack, inodes int64) {
	p := &r.room.pledges
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lapse(r.clock(), r.Limits.stall())
	return p.total.slack, p.total.inodes
}

func (r *Receiver) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// debt is one file's pledge while it is received. As a writer it
// releases what is written through it, so that a large file being
// written does not count twice, as used space and as promised space,
// and it counts each write as the file's progress.
type debt struct {
	r        *Receiver
	pl       *pledge // nil: nothing set aside, its transfer's pledge lapsed before the file started
	need     cost    // what the file still takes: the bytes not yet written, its slack and its inode
	open     bool    // the file's size is unknown: grow asks for room as it is written
	wrote    int64   // bytes written through it
	progress func(n int)
}

func (d *debt) Write(p []byte) (int, error) {
	k := min(int64(len(p)), d.need.bytes)
	d.need.bytes -= k
	d.wrote += int64(len(p))
	if d.pl != nil {
		pl, ps := d.pl, &d.r.room.pledges
		ps.mu.Lock()
		if !pl.lapsed {
			ps.take(pl, cost{bytes: k})
			pl.last = d.r.clock()
		}
		ps.mu.Unlock()
	}
	if d.progress != nil {
		d.progress(len(p))
	}
	return len(p), nil
}

// renew promises again what the file still needs if its pledge lapsed,
// or it never had one. It is called before each write, so that no byte
// is written without room promised to it.
func (d *debt) renew() error {
	if d.pl != nil {
		ps := &d.r.room.pledges
		ps.mu.Lock()
		lapsed := d.pl.lapsed
		ps.mu.Unlock()
		if !lapsed {
			return nil
		}
	}
	if err := d.promise("it now"); err != nil {
		return fmt.Errorf("the space promised to it was released after %s without progress, and %w", d.r.Limits.stall(), err)
	}
	return nil
}

// promise releases what d's pledge still holds and promises what the
// file needs anew, against the free space of the moment; what names the
// file in the error.
func (d *debt) promise(what string) error {
	d.settle()
	pl, err := d.r.promise(what, func(int64) cost { return d.need })
	if err != nil {
		return err
	}
	d.pl = pl
	return nil
}

// settle releases what is left.
func (d *debt) settle() {
	if d.pl != nil {
		d.r.drop(d.pl)
		d.pl = nil
	}
}

// renewal is the writer that calls renew, and grow, before the part is
// written.
type renewal struct{ d *debt }

func (w renewal) Write(p []byte) (int, error) {
	if err := w.d.renew(); err != nil {
		return 0, err
	}
	if err := w.d.grow(len(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ErrNoRoom is in the chain of a receiver's error when a file or an offer
// does not fit: the reserve would be crossed, or the file system said it
// is full (ENOSPC) or over quota (EDQUOT). See NoRoom.
var ErrNoRoom = errors.New("no room")

// noRoomError is a refusal for room, with the reason msg as its text.
type noRoomError string

func (e noRoomError) Error() string        { return string(e) }
func (e noRoomError) Is(target error) bool { return target == ErrNoRoom }

// NoRoom reports whether err says that the receiver has no room: what
// the hub logs at WARN, and answers with protocol.CodeNoRoom.
func NoRoom(err error) bool {
	return errors.Is(err, ErrNoRoom) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
