package transfer

import (
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/muxfer/muxfer/protocol"
)

// These tests run on a real, small file system: a tmpfs mounted for the
// test, which needs root. Elsewhere they are skipped, and the tests with a
// made-up free space (limits_test.go) cover the arithmetic.

// tmpfsReceiver mounts a tmpfs with the given options on a temporary
// folder and returns a receiver storing into it, and the folder. The
// receiver is closed and the tmpfs unmounted when the test ends.
func tmpfsReceiver(t *testing.T, opts string) (*Receiver, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v)", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() }) // before the unmount
	return NewReceiver(root), dir
}

func TestPrepareRefusesOfferLargerThanTheDiskHasFree(t *testing.T) {
	const MiB = 1 << 20
	r, _ := tmpfsReceiver(t, "size=4m")
	r.Limits.Reserve = MiB
	page := formatBytes(int64(os.Getpagesize())) // a tmpfs's block
	steps := []struct {
		name  string
		size  int64
		store bool   // receive the file once accepted
		want  string // in the error; "" to accept
	}{
		{"more than the disk holds", 8 * MiB, false, "offer needs 8.0 MiB but only 4.0 MiB is free (1.0 MiB kept in reserve)"},
		{"half of the disk", 2 * MiB, true, ""},
		{"the other half, with the first still on its way", 2 * MiB, false, "2.0 MiB promised to transfers in progress"},
		{"what is left after the reserve", MiB, false, ""},
		// A file of one byte takes a whole block.
		{"one byte more than is left, counting the promise", 1, false, "offer needs " + page + " in blocks of " + page + " but only 1.0 MiB is free"},
	}
	var first *Incoming
	for i, st := range steps {
		id := fmt.Sprintf("t%d", i)
		in, err := r.Prepare(protocol.Offer{Transfer: id, Files: []protocol.File{{Path: id, Size: st.size, Mode: 0o644}}})
		switch {
		case st.want == "" && err != nil:
			t.Fatalf("%s: Prepare: %v", st.name, err)
		case st.want != "" && (err == nil || !strings.Contains(err.Error(), st.want)):
			t.Fatalf("%s: Prepare error = %v, want one containing %q", st.name, err, st.want)
		}
		if st.store {
			first = in
		}
	}
	// Once the first file is on disk it is no longer promised, but it
	// takes the space it was promised.
	content := randomBytes(2*MiB, 5)
	if res, err := first.Receive(protocol.DataHeader{Transfer: "t1"}, dataStream(t, content, hashOf(content))); err != nil || res.Error != "" {
		t.Fatalf("Receive = %+v, %v", res, err)
	}
	if got := r.Promised(); got != MiB {
		t.Errorf("Promised = %d after the first file was stored, want %d (the third offer)", got, MiB)
	}
	_, err := r.Prepare(protocol.Offer{Transfer: "again", Files: []protocol.File{{Path: "again", Size: 1}}})
	if err == nil || !strings.Contains(err.Error(), "only 1.0 MiB is free") {
		t.Errorf("Prepare after the first file = %v, want a refusal as the disk now holds it", err)
	}
}

// A folder that the disk refuses to create (here for want of inodes) makes
// Prepare remove the folders it created before it, and only those.
func TestPrepareRemovesItsFoldersWhenTheDiskRefusesOne(t *testing.T) {
	// Six inodes: the root, "keep", and four for the offer's four folders,
	// which Prepare counts; but something else takes one of them once
	// Prepare has counted, as it makes the third folder.
	r, dir := tmpfsReceiver(t, "size=1m,nr_inodes=6")
	r.Limits = Limits{Reserve: -1, ReserveInodes: -1}
	writeTree(t, dir, map[string]string{"keep/": ""})
	r.mkdir = func(name string, perm fs.FileMode) error {
		if name == "c" {
			writeTree(t, dir, map[string]string{"other": "x"})
		}
		return r.root.Mkdir(name, perm)
	}
	_, err := r.Prepare(protocol.Offer{Transfer: "t1", Files: []protocol.File{
		{Path: "keep/a/b", Dir: true},
		{Path: "c/d", Dir: true},
	}})
	if err == nil || !strings.Contains(err.Error(), "create folder c/d") || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("Prepare error = %v, want one naming c/d and the full disk", err)
	}
	if got := listTree(t, dir); fmt.Sprint(got) != "[keep/ other]" {
		t.Errorf("the target holds %q, want only keep/ as before, and the other file", got)
	}
}

// On a real disk every file and folder takes an inode, and every folder
// and empty file is charged a block: an offer of many of them is refused
// before it can use up the reserves, and what is accepted and stored
// leaves exactly the inode reserve free.
func TestPrepareKeepsTheReservesOfInodesAndBlocks(t *testing.T) {
	const KiB = 1 << 10
	// 64 inodes, of which the root takes one; 1 MiB in pages of 4 KiB
	// (a tmpfs's folders and empty files take none, but other file systems'
	// do).
	r, dir := tmpfsReceiver(t, "size=1m,nr_inodes=64")
	if os.Getpagesize() != 4*KiB {
		t.Skipf("the numbers below are for pages of 4 KiB, not %d B", os.Getpagesize())
	}
	r.Limits = Limits{Reserve: 256 * KiB, ReserveInodes: 8}
	big := protocol.File{Path: "big", Size: 600 * KiB, Mode: 0o644}
	steps := []struct {
		name  string
		files []protocol.File
		want  string // the error, with DIR for the directory; "" to accept
	}{
		{"more empty files than there are inodes", files("e", 100, false, 0),
			"offer needs 100 inodes, one per file and folder, but only 63 are free (8 kept in reserve)"},
		{"folders that take the room kept in reserve", append(files("d", 50, true, 0), big),
			"offer needs 800.0 KiB in blocks of 4.0 KiB but only 1.0 MiB is free (256.0 KiB kept in reserve)"},
		{"folders and a file that fit", append(files("d", 40, true, 0), big), ""},
		{"empty files that would take inodes kept in reserve", files("e", 15, false, 0),
			"offer needs 15 inodes, one per file and folder, but only 22 are free (8 kept in reserve, 1 promised to transfers in progress)"},
		{"empty files that fit", files("e", 14, false, 0), ""},
	}
	var accepted []*Incoming
	for i, st := range steps {
		in, err := r.Prepare(protocol.Offer{Transfer: fmt.Sprintf("t%d", i), Files: st.files})
		want := strings.ReplaceAll(st.want, "DIR", dir)
		switch {
		case want == "" && err != nil:
			t.Fatalf("%s: Prepare: %v", st.name, err)
		case want != "" && (err == nil || err.Error() != want):
			t.Fatalf("%s: Prepare error = %v, want %q", st.name, err, want)
		case err == nil:
			accepted = append(accepted, in)
		}
	}
	content := randomBytes(int(big.Size), 9)
	for _, in := range accepted {
		for i, f := range in.offer.Files {
			if f.Dir {
				continue
			}
			b := content[:f.Size]
			if res, err := in.Receive(protocol.DataHeader{Transfer: in.Transfer(), File: i}, dataStream(t, b, hashOf(b))); err != nil || res.Error != "" {
				t.Fatalf("Receive %s = %+v, %v", f.Path, res, err)
			}
		}
	}
	if slack, inodes := r.promisedEntries(); r.Promised() != 0 || slack != 0 || inodes != 0 {
		t.Errorf("promised %d bytes, %d bytes of blocks, %d inodes once every file was stored; want none", r.Promised(), slack, inodes)
	}
	// What was stored took what was counted: the reserve is all that is
	// left, and not one more entry fits.
	disk, err := statfsDisk(r.root)
	if err != nil || disk.freeInodes != 8 {
		t.Errorf("statfs = %+v, %v; want the 8 inodes of the reserve free", disk, err)
	}
	_, err = r.Prepare(protocol.Offer{Transfer: "one-more", Files: files("x", 1, false, 0)})
	if want := "offer needs 1 inode, one per file and folder, but only 8 are free (8 kept in reserve)"; err == nil || err.Error() != want {
		t.Errorf("Prepare of one more empty file: %v, want %q", err, want)
	}
}
