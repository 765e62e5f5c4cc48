package transfer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/muxfer/muxfer/protocol"
)

// withFreeSpace makes r see a file system with free bytes available,
// which charges nothing per entry (a block size of 0) and counts no
// inodes: what is left is the arithmetic of the files' bytes alone.
func withFreeSpace(r *Receiver, free int64) {
	withDisk(r, diskSpace{free: free})
}

// withDisk makes r see a file system that reports disk.
func withDisk(r *Receiver, disk diskSpace) {
	r.statfs = func() (diskSpace, error) { return disk, nil }
}

// offerOf returns an offer of one folder "d" and files of the given sizes.
func offerOf(id string, sizes ...int64) protocol.Offer {
	o := protocol.Offer{Transfer: id, Files: []protocol.File{{Path: "d", Dir: true, Mode: 0o755}}}
	for i, n := range sizes {
		o.Files = append(o.Files, protocol.File{Path: fmt.Sprintf("d/f%d", i), Size: n, Mode: 0o644})
	}
	return o
}

func TestPrepareRefusesOfferOverLimitsNamingTheNumbers(t *testing.T) {
	const GiB = 1 << 30
	half := int64(math.MaxInt64/2 + 1)
	tests := []struct {
		name   string
		limits Limits
		offer  protocol.Offer
		want   string // the whole error
	}{
		{"more entries than MaxFiles", Limits{MaxFiles: 3}, offerOf("t", 1, 2, 3), "offer of 4 entries is over the limit of 3"},
		{"more bytes than MaxBytes", Limits{MaxBytes: GiB}, offerOf("t", 5*GiB+GiB/5), "offer of 5.2 GiB is over the limit of 1.0 GiB"},
		{"one byte over MaxBytes", Limits{MaxBytes: GiB}, offerOf("t", GiB/2, GiB/2, 1), "offer of 1073741825 B is over the limit of 1073741824 B"},
		{"sizes that would wrap around", Limits{MaxBytes: math.MaxInt64 - 1}, offerOf("t", half, half), "offer of 3 files adds up to more than 9223372036854775806 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, dir := newTestReceiver(t)
			r.Limits = tt.limits
			withFreeSpace(r, math.MaxInt64)
			_, err := r.Prepare(tt.offer)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Prepare error = %v, want %q", err, tt.want)
			}
			if got := listTree(t, dir); len(got) != 0 {
				t.Errorf("a refused offer left %q", got)
			}
		})
	}
}

func TestPrepareAcceptsOfferAtItsLimits(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		offer  protocol.Offer
	}{
		{"MaxFiles entries", Limits{MaxFiles: 4}, offerOf("t", 1, 2, 3)},
		{"MaxBytes bytes", Limits{MaxBytes: 6}, offerOf("t", 1, 2, 3)},
		{"no byte limit by default", Limits{}, offerOf("t", math.MaxInt64/4, math.MaxInt64/4)},
		{"MaxFiles above the protocol's is the protocol's", Limits{MaxFiles: 10 * MaxFiles}, offerOf("t", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newTestReceiver(t)
			r.Limits = tt.limits
			withFreeSpace(r, math.MaxInt64)
			if _, err := r.Prepare(tt.offer); err != nil {
				t.Errorf("Prepare: %v", err)
			}
		})
	}
}

func TestLimitsZeroValueMeansDefaults(t *testing.T) {
	var l Limits
	if l.maxFiles() != 100000 || l.reserve() != 64<<20 || l.check(100000, math.MaxInt64) != nil {
		t.Errorf("zero Limits: %d files, reserve %d, check %v; want 100000, 64 MiB, no byte limit", l.maxFiles(), l.reserve(), l.check(100000, math.MaxInt64))
	}
	if got := (Limits{Reserve: -1}).reserve(); got != 0 {
		t.Errorf("a negative Reserve keeps %d bytes, want none", got)
	}
}

// The free-space check, with the file system's answer made up: an offer
// must leave the reserve free after every byte already promised.
func TestPrepareRefusesOfferThatDoesNotFitTheFreeSpace(t *testing.T) {
	const (
		KiB = 1 << 10
		MiB = 1 << 20
		GiB = 1 << 30
	)
	tests := []struct {
		name    string
		free    int64
		reserve int64   // Limits.Reserve
		earlier []int64 // sizes of offers accepted before, still arriving
		offer   []int64
		want    string // in the error, with DIR for the directory; "" to accept
	}{
		{"fits above the default reserve", 64*MiB + 1000, 0, nil, []int64{600, 400}, ""},
		{"one byte into the default reserve", 64*MiB + 1000, 0, nil, []int64{600, 401}, "offer needs 1001 B but only 64.0 MiB is free (64.0 MiB kept in reserve)"},
		{"far too large", GiB + GiB/10, 0, nil, []int64{5*GiB + GiB/5}, "offer needs 5.2 GiB but only 1.1 GiB is free (64.0 MiB kept in reserve)"},
		{"less free than the reserve", 10 * MiB, 0, nil, []int64{1}, "offer needs 1 B but only 10.0 MiB is free"},
		{"exactly what is left after the reserve", 3 * MiB, MiB, nil, []int64{MiB, MiB}, ""},
		{"one byte more than is left after the reserve", 3 * MiB, MiB, nil, []int64{MiB, MiB + 1}, "offer needs 2.0 MiB but only 3.0 MiB is free (1.0 MiB kept in reserve)"},
		{"no reserve", 100, -1, nil, []int64{100}, ""},
		{"what is promised counts as taken", 10 * MiB, -1, []int64{6 * MiB}, []int64{4*MiB + 1}, "offer needs 4194305 B but only 4194304 B is free (0 B kept in reserve, 6.0 MiB promised to transfers in progress)"},
		{"what is left after promises", 10 * MiB, -1, []int64{3 * MiB, 3 * MiB}, []int64{4 * MiB}, ""},
		{"promises add up", 10 * MiB, -1, []int64{3 * MiB, 3 * MiB}, []int64{4*MiB + 1}, "6.0 MiB promised"},
		{"promised more than is free now", KiB, -1, []int64{KiB}, []int64{1}, "only 0 B is free"},
		{"an offer of empty files needs no space", 0, 0, nil, []int64{0, 0}, ""},
		{"sizes that would wrap around", math.MaxInt64 - 1, -1, nil, []int64{math.MaxInt64, 1}, "offer of 3 files adds up to more than 9223372036854775806 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, dir := newTestReceiver(t)
			r.Limits.Reserve = tt.reserve
			withFreeSpace(r, tt.free)
			var promised int64
			for i, n := range tt.earlier {
				prepare(t, r, fmt.Sprintf("early%d", i), protocol.File{Path: fmt.Sprintf("early%d", i), Size: n})
				promised += n
			}
			before := listTree(t, dir)
			in, err := r.Prepare(offerOf("t", tt.offer...))
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if err != nil && strings.Contains(err.Error(), dir) {
				t.Errorf("the refusal, which the sender sees, names the receiver's folder: %v", err)
			}
			// A refusal for room says so to the hub (NoRoom), and only such.
			if err != nil && NoRoom(err) != strings.Contains(err.Error(), " free (") {
				t.Errorf("NoRoom(%q) = %v", err, NoRoom(err))
			}
			switch {
			case want == "" && err != nil:
				t.Fatalf("Prepare: %v", err)
			case want == "":
				var sum int64
				for _, n := range tt.offer {
					sum += n
				}
				if got := r.Promised(); got != promised+sum {
					t.Errorf("Promised = %d, want %d", got, promised+sum)
				}
				in.Abandon()
			case err == nil:
				t.Fatalf("Prepare accepted the offer, want %q", want)
			case !strings.Contains(err.Error(), want):
				t.Errorf("Prepare error %q, want it to contain %q", err, want)
			default:
				if got := r.Promised(); got != promised {
					t.Errorf("Promised = %d after a refusal, want %d as before", got, promised)
				}
				if got := listTree(t, dir); fmt.Sprint(got) != fmt.Sprint(before) {
					t.Errorf("a refused offer changed the target from %q to %q", before, got)
				}
			}
		})
	}
}

func TestPrepareRefusesOfferWhenFreeSpaceIsUnknowable(t *testing.T) {
	r, dir := newTestReceiver(t)
	r.statfs = func() (diskSpace, error) { return diskSpace{}, errors.New("input/output error") }
	_, err := r.Prepare(offerOf("t", 1))
	if err == nil || !strings.Contains(err.Error(), "free space of the receiving folder: input/output error") || strings.Contains(err.Error(), dir) {
		t.Errorf("Prepare error = %v, want the reason, without the folder's path (the sender sees it)", err)
	}
	r.statfs = func() (diskSpace, error) { return diskSpace{}, errors.ErrUnsupported }
	if _, err := r.Prepare(offerOf("t", 1)); err != nil {
		t.Errorf("Prepare on a system that cannot tell free space: %v, want the offer accepted", err)
	}
}

// Every promised byte comes back: as it is written, or when its file is
// stored, fails, is cancelled or is abandoned, and never twice.
func TestPromisedBytesAreReleasedWhenFilesEnd(t *testing.T) {
	a, b := randomBytes(3*bufSize+5, 1), []byte("fifty bytes, more or less, of a second file......")
	size := int64(len(a) + len(b))
	good := func(t *testing.T) io.Reader { return dataStream(t, a, hashOf(a)) }
	tests := []struct {
		name string
		act  func(t *testing.T, in *Incoming)
		want int64 // still promised
	}{
		{"nothing happened", func(*testing.T, *Incoming) {}, size},
		{"stored", func(t *testing.T, in *Incoming) { in.Receive(protocol.DataHeader{Transfer: "t", File: 1}, good(t)) }, int64(len(b))},
		{"both stored", func(t *testing.T, in *Incoming) {
			in.Receive(protocol.DataHeader{Transfer: "t", File: 1}, good(t))
			in.Receive(protocol.DataHeader{Transfer: "t", File: 2}, dataStream(t, b, hashOf(b)))
		}, 0},
		{"hash mismatch", func(t *testing.T, in *Incoming) {
			in.Receive(protocol.DataHeader{Transfer: "t", File: 1}, dataStream(t, a, hashOf(b)))
		}, int64(len(b))},
		{"stream cut mid-way", func(t *testing.T, in *Incoming) {
			in.Receive(protocol.DataHeader{Transfer: "t", File: 1}, bytes.NewReader(a[:bufSize+1]))
		}, int64(len(b))},
		{"offset refused", func(t *testing.T, in *Incoming) {
			in.Receive(protocol.DataHeader{Transfer: "t", File: 1, Offset: 1}, good(t))
		}, int64(len(b))},
		{"cancelled", func(t *testing.T, in *Incoming) { in.Cancel(1) }, int64(len(b))},
		{"cancelled twice", func(t *testing.T, in *Incoming) { in.Cancel(1); in.Cancel(1) }, int64(len(b))},
		{"cancelled after it was stored", func(t *testing.T, in *Incoming) {
			in.Receive(protocol.DataHeader{Transfer: "t", File: 1}, good(t))
			in.Cancel(1)
		}, int64(len(b))},
		{"abandoned", func(t *testing.T, in *Incoming) { in.Abandon() }, 0},
		{"abandoned after one was stored", func(t *testing.T, in *Incoming) {
			in.Receive(protocol.DataHeader{Transfer: "t", File: 1}, good(t))
			in.Abandon()
			in.Abandon()
		}, 0},
		{"the same file sent twice", func(t *testing.T, in *Incoming) {
			in.Receive(protocol.DataHeader{Transfer: "t", File: 1}, good(t))
			in.Receive(protocol.DataHeader{Transfer: "t", File: 1}, good(t))
		}, int64(len(b))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newTestReceiver(t)
			r.Limits.Reserve = -1
			withFreeSpace(r, size)
			in, err := r.Prepare(offerOf("t", int64(len(a)), int64(len(b))))
			if err != nil {
				t.Fatal(err)
			}
			tt.act(t, in)
			if got := r.Promised(); got != tt.want {
				t.Fatalf("Promised = %d, want %d", got, tt.want)
			}
			// What was released can be promised to the next offer, and no
			// more than that.
			if free := size - tt.want; free > 0 {
				if _, err := r.Prepare(offerOf("next", free+1)); err == nil {
					t.Errorf("an offer of %d bytes was accepted with %d free", free+1, free)
				}
				if _, err := r.Prepare(offerOf("next", free)); err != nil {
					t.Errorf("an offer of the %d released bytes was refused: %v", free, err)
				}
			}
		})
	}
}

// A file being written counts once: its bytes on disk are no longer
// promised.
func TestPromiseShrinksAsBytesAreWritten(t *testing.T) {
	r, _ := newTestReceiver(t)
	withFreeSpace(r, math.MaxInt64)
	content := randomBytes(2*bufSize, 3)
	in := prepare(t, r, "t", protocol.File{Path: "f", Size: int64(len(content))})
	var seen []int64
	src := readHook{dataStream(t, content, hashOf(content)), func() { seen = append(seen, r.Promised()) }}
	if res, err := in.Receive(protocol.DataHeader{Transfer: "t"}, src); err != nil || res.Error != "" {
		t.Fatalf("Receive = %+v, %v", res, err)
	}
	want := []int64{2 * bufSize, bufSize, 0}
	if len(seen) < len(want) || fmt.Sprint(seen[:len(want)]) != fmt.Sprint(want) {
		t.Errorf("promised before each read: %v, want %v first", seen, want)
	}
}

// readHook calls before ahead of every Read.
type readHook struct {
	r      io.Reader
	before func()
}

func (h readHook) Read(p []byte) (int, error) {
	h.before()
	return h.r.Read(p)
}

// Offers prepared at the same time never count on the same free bytes.
func TestConcurrentOffersNeverPromiseMoreThanIsFree(t *testing.T) {
	const fits, tries, size = 10, 64, 100
	r, _ := newTestReceiver(t)
	r.Limits.Reserve = -1
	r.statfs = func() (diskSpace, error) {
		runtime.Gosched() // invite another Prepare in between, were it allowed
		return diskSpace{free: fits * size}, nil
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			o := protocol.Offer{Transfer: fmt.Sprintf("t%d", i), Files: []protocol.File{{Path: fmt.Sprintf("f%d", i), Size: size}}}
			if _, err := r.Prepare(o); err == nil {
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if accepted != fits || r.Promised() != fits*size {
		t.Errorf("%d offers accepted, %d bytes promised; want %d and %d", accepted, r.Promised(), fits, fits*size)
	}
}

func TestStatfsDiskReportsTheTargetsFileSystem(t *testing.T) {
	r, _ := newTestReceiver(t)
	disk, err := statfsDisk(r.root)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("this system cannot tell free space")
	}
	if err != nil || disk.free <= 0 || disk.block < 512 || disk.block > 64<<10 || disk.freeInodes > disk.inodes {
		t.Errorf("statfsDisk = %+v, %v; want free bytes, a block size from 512 B to 64 KiB, and no more inodes free than in all", disk, err)
	}
}

// TestPrepareRefusesSizesThatSaturate: sizes that add up past the largest
// int64 are refused outright, even with no reserve and no byte limit, so
// the promised-bytes counter can never overflow or go negative.
func TestPrepareRefusesSizesThatSaturate(t *testing.T) {
	r, _ := newTestReceiver(t)
	r.Limits.Reserve = -1
	withFreeSpace(r, math.MaxInt64)
	o := protocol.Offer{Transfer: "t", Files: []protocol.File{{Path: "a", Size: math.MaxInt64}, {Path: "b", Size: 1}}}
	if _, err := r.Prepare(o); err == nil || !strings.Contains(err.Error(), "adds up to more than") {
		t.Fatalf("Prepare: %v", err)
	}
	if p := r.Promised(); p != 0 {
		t.Errorf("promised %d after a refused offer", p)
	}
}
