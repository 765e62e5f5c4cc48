package transfer

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muxfer/muxfer/protocol"
)

// fakeClock is a clock that moves only when the test says so.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// advance moves the clock on by d.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// withClock gives r's pledges a clock of the test's.
func withClock(r *Receiver) *fakeClock {
	c := newFakeClock()
	r.now = c.Now
	return c
}

// stallTest is the setting of the tests of lapsing promises: 5 buffers
// free, no reserve, a stall of a minute on a clock of the test's, and an
// offer of 3 buffers accepted and not yet sent.
func stallTest(t *testing.T) (r *Receiver, dir string, clock *fakeClock, idle *Incoming, content []byte) {
	t.Helper()
	r, dir = newTestReceiver(t)
	r.Limits = Limits{Reserve: -1, Stall: time.Minute}
	withFreeSpace(r, 5*bufSize)
	clock = withClock(r)
	content = randomBytes(3*bufSize, 7)
	idle = prepare(t, r, "idle", protocol.File{Path: "idle.bin", Size: int64(len(content)), Mode: 0o644})
	return r, dir, clock, idle, content
}

// An offer accepted and never sent holds its room for Limits.Stall, and
// not a moment longer: then an offer that did not fit beside it does.
func TestUnsentOfferReleasesItsRoomAfterStall(t *testing.T) {
	r, _, clock, _, _ := stallTest(t)
	honest := randomBytes(3*bufSize, 8)
	offer := protocol.Offer{Transfer: "honest", Files: []protocol.File{{Path: "honest.bin", Size: int64(len(honest)), Mode: 0o644}}}
	refused := "offer needs 768.0 KiB but only 512.0 KiB is free (0 B kept in reserve, 768.0 KiB promised to transfers in progress)"
	steps := []struct {
		name  string
		after time.Duration // since the step before
		want  string        // the error; "" to accept
	}{
		{"at once", 0, refused},
		{"a moment before the stall", time.Minute - time.Nanosecond, refused},
		{"at the stall", time.Nanosecond, ""},
	}
	var in *Incoming
	for _, st := range steps {
		clock.advance(st.after)
		var err error
		in, err = r.Prepare(offer)
		switch {
		case st.want == "" && err != nil:
			t.Fatalf("%s: Prepare: %v", st.name, err)
		case st.want != "" && (err == nil || err.Error() != st.want):
			t.Fatalf("%s: Prepare error = %v, want %q", st.name, err, st.want)
		}
	}
	if got := r.Promised(); got != int64(len(honest)) {
		t.Errorf("Promised = %d once the idle offer lapsed, want %d, the honest offer's alone", got, len(honest))
	}
	if res, err := in.Receive(protocol.DataHeader{Transfer: "honest"}, dataStream(t, honest, hashOf(honest))); err != nil || res.Error != "" {
		t.Fatalf("Receive of the honest file = %+v, %v", res, err)
	}
	if got := r.Promised(); got != 0 {
		t.Errorf("Promised = %d after the honest file was stored, want 0", got)
	}
}

// A file whose promise lapsed before its stream started promises again
// when it starts: it is stored if there is room still, and fails with
// the reason if the room went to another offer, leaving nothing behind.
func TestFileStartingAfterItsPromiseLapsedPromisesAgain(t *testing.T) {
	tests := []struct {
		name  string
		other int64  // bytes of an offer accepted after the lapse; 0 for none
		want  string // the file's error, with DIR for the directory; "" to store it
	}{
		{"room still free", 0, ""},
		{"room left beside another offer", 2 * bufSize, ""},
		{"room taken by another offer", 3 * bufSize,
			"idle.bin: the space promised to it was released after 1m0s without progress, and it now needs 768.0 KiB but only 512.0 KiB is free (0 B kept in reserve, 768.0 KiB promised to transfers in progress)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, dir, clock, idle, content := stallTest(t)
			clock.advance(time.Minute)
			if tt.other > 0 {
				prepare(t, r, "other", protocol.File{Path: "other.bin", Size: tt.other})
			}
			res, err := idle.Receive(protocol.DataHeader{Transfer: "idle"}, dataStream(t, content, hashOf(content)))
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if res.Error != want {
				t.Fatalf("Result error %q, want %q", res.Error, want)
			}
			if want == "" {
				if res.Stored != "idle.bin" {
					t.Errorf("Result %+v, want idle.bin stored", res)
				}
			} else if got := listTree(t, dir); len(got) != 0 {
				t.Errorf("a file refused for want of room left %q", got)
			}
			if got := r.Promised(); got != tt.other {
				t.Errorf("Promised = %d after the idle file ended, want %d, the other offer's", got, tt.other)
			}
			if !idle.Done() {
				t.Errorf("the idle transfer is not done after its only file")
			}
		})
	}
}

// A file being received keeps its room while it writes, however slowly;
// one that writes nothing for Limits.Stall loses it, and must find room
// again before its next byte.
func TestFileThatStallsMidwayPromisesAgain(t *testing.T) {
	tests := []struct {
		name  string
		pause time.Duration // before the second buffer of the file
		other int64         // bytes of an offer tried in that pause
		taken bool          // whether that offer is accepted
		want  string        // the file's error, with DIR; "" to store it
	}{
		{"writing within the stall keeps the room", time.Minute - time.Nanosecond, 4 * bufSize, false, ""},
		{"a stall with the room still free", time.Minute, 0, false, ""},
		{"a stall with the room taken", time.Minute, 4 * bufSize, true,
			"idle.bin: the space promised to it was released after 1m0s without progress, and it now needs 512.0 KiB but only 256.0 KiB is free (0 B kept in reserve, 1.0 MiB promised to transfers in progress)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, dir, clock, idle, content := stallTest(t)
			reads, taken := 0, false
			src := readHook{dataStream(t, content, hashOf(content)), func() {
				if reads++; reads != 2 {
					return
				}
				clock.advance(tt.pause)
				if tt.other > 0 {
					_, err := r.Prepare(protocol.Offer{Transfer: "other", Files: []protocol.File{{Path: "other.bin", Size: tt.other}}})
					taken = err == nil
				}
			}}
			res, err := idle.Receive(protocol.DataHeader{Transfer: "idle"}, src)
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			if taken != tt.taken {
				t.Errorf("the other offer accepted: %v, want %v", taken, tt.taken)
			}
			if want := strings.ReplaceAll(tt.want, "DIR", dir); res.Error != want {
				t.Fatalf("Result error %q, want %q", res.Error, want)
			}
			if tt.want != "" {
				if got := listTree(t, dir); len(got) != 0 {
					t.Errorf("a file refused for want of room left %q", got)
				}
			}
			want := int64(0)
			if taken {
				want = tt.other
			}
			if got := r.Promised(); got != want {
				t.Errorf("Promised = %d after the idle file ended, want %d", got, want)
			}
		})
	}
}

// files returns n entries named prefix0, prefix1…: folders if dir, else
// files of size bytes.
func files(prefix string, n int, dir bool, size int64) []protocol.File {
	out := make([]protocol.File, n)
	for i := range out {
		out[i] = protocol.File{Path: fmt.Sprintf("%s%d", prefix, i), Dir: dir, Size: size, Mode: 0o755}
	}
	return out
}

// Every entry takes an inode and whole blocks: a folder or an empty file
// takes one block, a file its size rounded up. An offer must leave both
// reserves, of bytes and of inodes, after what is promised.
func TestPrepareChargesEveryEntryABlockAndAnInode(t *testing.T) {
	const (
		KiB = 1 << 10
		MiB = 1 << 20
	)
	bytesTight := diskSpace{free: 64*MiB + 40*KiB, block: 4 * KiB} // ten blocks above the default reserve
	inodesTight := diskSpace{free: 1 << 40, block: 4 * KiB, inodes: 1000, freeInodes: 150}
	bytesRefused := func(need string) string {
		return "offer needs " + need + " in blocks of 4.0 KiB but only 64.0 MiB is free (64.0 MiB kept in reserve)"
	}
	nested := func(n int) []protocol.File { return files("a/b/c/f", n, false, 4*KiB) }
	tests := []struct {
		name    string
		disk    diskSpace
		limits  Limits
		there   map[string]string // in the target before
		earlier []protocol.File   // an offer accepted before, not yet sent
		offer   []protocol.File
		want    string // the error, with DIR for the directory; "" to accept
	}{
		{"folders within the byte reserve", bytesTight, Limits{}, nil, nil, files("d", 10, true, 0), ""},
		{"folders past the byte reserve", bytesTight, Limits{}, nil, nil, files("d", 11, true, 0), bytesRefused("44.0 KiB")},
		{"empty files past the byte reserve", bytesTight, Limits{}, nil, nil, files("e", 11, false, 0), bytesRefused("44.0 KiB")},
		{"files of one byte take a block each", bytesTight, Limits{}, nil, nil, files("e", 11, false, 1), bytesRefused("44.0 KiB")},
		{"a file's last block counts whole", bytesTight, Limits{}, nil, nil, files("f", 1, false, 36*KiB+1), ""},
		{"a file's last block counts whole, one block over", bytesTight, Limits{}, nil, nil, files("f", 1, false, 40*KiB+1), bytesRefused("44.0 KiB")},
		// Three folders and seven files: ten blocks, with the folders
		// above the files counted once, not once per file.
		{"folders above files count once", bytesTight, Limits{}, nil, nil, nested(7), ""},
		{"folders above files count", bytesTight, Limits{}, nil, nil, nested(8), bytesRefused("44.0 KiB")},
		{"folders already there cost nothing", bytesTight, Limits{}, map[string]string{"a/b/c/": ""}, nil,
			append([]protocol.File{{Path: "a", Dir: true}, {Path: "a/b", Dir: true}, {Path: "a/b/c", Dir: true}}, nested(10)...), ""},
		{"inodes within the reserve", inodesTight, Limits{ReserveInodes: 100}, nil, nil, files("e", 50, false, 0), ""},
		{"inodes past the reserve", inodesTight, Limits{ReserveInodes: 100}, nil, nil, files("e", 51, false, 0),
			"offer needs 51 inodes, one per file and folder, but only 150 are free (100 kept in reserve)"},
		{"folders take inodes", inodesTight, Limits{ReserveInodes: 100}, nil, nil, files("d", 51, true, 0), "offer needs 51 inodes"},
		{"1% of the inodes kept by default", diskSpace{free: 1 << 40, block: 4 * KiB, inodes: 10000, freeInodes: 150}, Limits{}, nil, nil,
			files("e", 51, false, 0), "(100 kept in reserve)"},
		{"inodes promised count as taken", inodesTight, Limits{ReserveInodes: 100}, nil, files("early", 30, false, 1), files("e", 21, false, 0),
			"offer needs 21 inodes, one per file and folder, but only 120 are free (100 kept in reserve, 30 promised to transfers in progress)"},
		{"no inode reserve", inodesTight, Limits{ReserveInodes: -1}, nil, nil, files("e", 150, false, 0), ""},
		{"a file system that counts no inodes", diskSpace{free: 1 << 40, block: 4 * KiB}, Limits{}, nil, nil, files("e", 1000, false, 0), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, dir := newTestReceiver(t)
			r.Limits = tt.limits
			withDisk(r, tt.disk)
			writeTree(t, dir, tt.there)
			if tt.earlier != nil {
				prepare(t, r, "early", tt.earlier...)
			}
			slack, inodes := r.promisedEntries()
			before := listTree(t, dir)
			in, err := r.Prepare(protocol.Offer{Transfer: "t", Files: tt.offer})
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			switch {
			case want == "" && err != nil:
				t.Fatalf("Prepare: %v", err)
			case want == "":
				in.Abandon()
			case err == nil:
				t.Fatalf("Prepare accepted the offer, want %q", want)
			case !strings.Contains(err.Error(), want):
				t.Fatalf("Prepare error %q, want it to contain %q", err, want)
			default:
				if got := listTree(t, dir); fmt.Sprint(got) != fmt.Sprint(before) {
					t.Errorf("a refused offer changed the target from %q to %q", before, got)
				}
			}
			if s, i := r.promisedEntries(); s != slack || i != inodes {
				t.Errorf("promised %d bytes of blocks and %d inodes after the offer ended, want %d and %d as before", s, i, slack, inodes)
			}
		})
	}
}

// The blocks and inodes promised to an offer come back: a folder's once
// it is made, a file's when it ends, however it ends, and the folders
// above files, not listed, when the transfer ends.
func TestEntriesPromisedAreReleasedWhenTheyEnd(t *testing.T) {
	const block = 4096
	small := []byte("ten bytes!")
	offer := []protocol.File{
		{Path: "d", Dir: true, Mode: 0o755},    // made at once
		{Path: "x/y/small", Size: 10},          // below two folders not listed
		{Path: "empty"},                        // a whole block
		{Path: "cancelled", Size: block + 904}, // two blocks
	}
	// Two folders and three files: the bytes of their blocks beyond the
	// files' contents, and their inodes.
	wantSlack, wantInodes := int64(2*block+(block-10)+block+(block-904)), int64(5)
	tests := []struct {
		name string
		act  func(t *testing.T, in *Incoming)
	}{
		{"abandoned", func(t *testing.T, in *Incoming) { in.Abandon() }},
		{"each file ending its own way", func(t *testing.T, in *Incoming) {
			if res, err := in.Receive(protocol.DataHeader{Transfer: "t", File: 1}, dataStream(t, small, hashOf(small))); err != nil || res.Error != "" {
				t.Fatalf("Receive small = %+v, %v", res, err)
			}
			if res, err := in.Receive(protocol.DataHeader{Transfer: "t", File: 2}, dataStream(t, nil, "xxh3-128:0")); err != nil || res.Error == "" {
				t.Fatalf("Receive empty with a wrong hash = %+v, %v; want it failed", res, err)
			}
			in.Cancel(3)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newTestReceiver(t)
			withDisk(r, diskSpace{free: 1 << 40, block: block, inodes: 1 << 20, freeInodes: 1 << 20})
			in := prepare(t, r, "t", offer...)
			if s, i := r.promisedEntries(); s != wantSlack || i != wantInodes {
				t.Errorf("promised %d bytes of blocks and %d inodes once the folder was made, want %d and %d", s, i, wantSlack, wantInodes)
			}
			tt.act(t, in)
			if !in.Done() {
				t.Fatal("the transfer is not done")
			}
			if s, i := r.promisedEntries(); s != 0 || i != 0 || r.Promised() != 0 {
				t.Errorf("promised %d bytes, %d bytes of blocks and %d inodes after the transfer ended, want none", r.Promised(), s, i)
			}
		})
	}
}
