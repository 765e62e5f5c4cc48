package transfer

import (
	"fmt"
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
	r, dir := tmpfsReceiver(t, "size=4m")
	r.Limits.Reserve = MiB
	steps := []struct {
		name  string
		size  int64
		store bool   // receive the file once accepted
		want  string // in the error; "" to accept
	}{
		{"more than the disk holds", 8 * MiB, false, "offer needs 8.0 MiB but only 4.0 MiB is free in " + dir + " (1.0 MiB kept in reserve)"},
		{"half of the disk", 2 * MiB, true, ""},
		{"the other half, with the first still on its way", 2 * MiB, false, "2.0 MiB promised to transfers in progress"},
		{"what is left after the reserve", MiB, false, ""},
		{"one byte more than is left, counting the promise", 1, false, "offer needs 1 B but only 1.0 MiB is free"},
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
	// Five inodes: the root, "keep", and three for the offer's four folders.
	r, dir := tmpfsReceiver(t, "size=1m,nr_inodes=5")
	writeTree(t, dir, map[string]string{"keep/": ""})
	_, err := r.Prepare(protocol.Offer{Transfer: "t1", Files: []protocol.File{
		{Path: "keep/a/b", Dir: true},
		{Path: "c/d", Dir: true},
	}})
	if err == nil || !strings.Contains(err.Error(), "create folder c/d") || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("Prepare error = %v, want one naming c/d and the full disk", err)
	}
	if got := listTree(t, dir); fmt.Sprint(got) != "[keep/]" {
		t.Errorf("the target holds %q, want only keep/ as before", got)
	}
}
