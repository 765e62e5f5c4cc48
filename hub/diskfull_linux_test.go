package hub_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// These tests store uploads where the hub cannot write: on a small tmpfs
// that fills up mid-file (mounting one needs root), and in a folder the
// hub may not write to (which only a non-root hub notices).

// TestDiskFullKeepsPartAndResumesAfterSpaceIsFreed fills the hub's disk
// while a large file is arriving: the sender hears "no space left on
// device" for that file and for the one after it, on a session that goes
// on; the hub keeps the large file's part for a resume, stores nothing
// under a final name, and holds no space promised. Once space is freed,
// the same upload on the same connection resumes the large file where
// the part ends and delivers both files intact.
func TestDiskFullKeepsPartAndResumesAfterSpaceIsFreed(t *testing.T) {
	const MiB = 1 << 20
	dir := tmpfsDir(t, "size=32m")
	logs := &logRecorder{}
	h := hubtest.Start(t, hub.Config{Dir: dir, Offers: transfer.Limits{Reserve: -1}, Logger: slog.New(logs)})
	c := hubtest.Dial(t, h.Addr, "alice")

	src := t.TempDir()
	writeRandom(t, filepath.Join(src, "big.bin"), 20*MiB)
	writeRandom(t, filepath.Join(src, "notes.txt"), 4<<10)
	// Scan keeps the order given and Parallel 1 sends in that order, so
	// notes.txt starts only once big.bin has failed, on a full disk.
	m, _, err := transfer.Scan(filepath.Join(src, "big.bin"), filepath.Join(src, "notes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("alice's resume key")
	filler := filepath.Join(dir, "filler") // a name the upload does not use
	var (
		once    sync.Once
		sent    int64
		fillErr = errors.New("the disk was never filled")
	)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	rep, err := c.Upload(ctx, m, transfer.SendOptions{Parallel: 1, ResumeKey: key, Observer: transfer.Observer{
		Wrote: func(n int) {
			// One file at a time, so one goroutine. The offer was
			// accepted with room to spare; the disk fills after it, with
			// 14 MiB of big.bin still to come.
			if sent += int64(n); sent >= 6*MiB {
				once.Do(func() { fillErr = fillDisk(filler) })
			}
		},
	}})
	if fillErr != nil {
		t.Fatalf("filling the disk: %v", fillErr)
	}
	if err != nil {
		t.Fatalf("Upload onto a full disk: %v, want per-file errors on a session that goes on; report %+v", err, rep.Files)
	}
	got := reportsByPath(rep)
	for _, name := range []string{"big.bin", "notes.txt"} {
		r := got[name]
		if r.Status != transfer.Failed || !strings.Contains(r.Err, name+": no space left on device") {
			t.Errorf("%s: status %q, error %q; want %q with the receiver's full disk", name, r.Status, r.Err, transfer.Failed)
		}
	}
	// A full disk is the operator's to mend: each file it failed is
	// logged at WARN.
	if n := logs.countAt(slog.LevelWarn, "file failed"); n != 2 {
		t.Errorf("%d files failed for the full disk logged at WARN, want 2", n)
	}
	waitUntil(t, "the hub to release the space promised to the failed files", func() bool { return h.Promised() == 0 })
	for _, name := range []string{"big.bin", "notes.txt"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists under its final name after the disk filled (Lstat: %v)", name, err)
		}
	}
	// notes.txt got no byte onto the disk: there is nothing of it to
	// resume, and no part of it should stay behind.
	parts := partSizes(t, dir)
	if len(parts) != 1 {
		t.Errorf("hub directory holds parts %v after the disk filled, want exactly one, big.bin's", parts)
	}
	var held int64
	for _, size := range parts {
		if size > 0 {
			if held > 0 {
				t.Fatalf("hub directory holds parts %v, want only big.bin's to hold bytes", parts)
			}
			held = size
		}
	}
	if held <= 0 || held >= 20*MiB {
		t.Fatalf("big.bin's part holds %d bytes, want some of the file and not all of it", held)
	}
	if n := len(h.Clients()); n != 1 {
		t.Errorf("hub lists %d clients after the disk filled, want alice still connected", n)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	rep, err = c.Upload(ctx, m, transfer.SendOptions{Parallel: 1, ResumeKey: key})
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("Upload after space was freed: %v; report %+v", err, rep.Files)
	}
	if r := reportsByPath(rep)["big.bin"]; r.Resumed != held {
		t.Errorf("big.bin resumed from byte %d, want %d, where its part ended", r.Resumed, held)
	}
	if parts := partSizes(t, dir); len(parts) != 0 {
		t.Errorf("hub directory still holds parts %v after the resumed upload", parts)
	}
	sameUploads(t, src, dir)
	if n := h.Promised(); n != 0 {
		t.Errorf("%d bytes still promised after every file was stored", n)
	}
}

// TestUnwritableFolderFailsOnlyItsFiles offers a file into a folder that
// the hub may not write to, and one beside it: the first fails with the
// reason, the second arrives, the session goes on, and once the folder is
// writable again the same upload delivers the rest. Root writes anywhere,
// so the test needs a hub that runs as someone else.
func TestUnwritableFolderFailsOnlyItsFiles(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write to any folder: run as another user to test a folder that refuses the hub")
	}
	h := hubtest.Start(t, hub.Config{})
	locked := filepath.Join(h.Dir, "box")
	if err := os.Mkdir(locked, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o755) }) // so that the temporary folder can be removed
	c := hubtest.Dial(t, h.Addr, "alice")

	src := t.TempDir()
	if err := os.Mkdir(filepath.Join(src, "box"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeRandom(t, filepath.Join(src, "box", "inside.bin"), 64<<10)
	writeRandom(t, filepath.Join(src, "beside.bin"), 64<<10)
	m, _, err := transfer.Scan(filepath.Join(src, "box"), filepath.Join(src, "beside.bin"))
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("alice's resume key")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	rep, err := c.Upload(ctx, m, transfer.SendOptions{ResumeKey: key})
	if err != nil {
		t.Fatalf("Upload into a locked folder: %v, want per-file errors; report %+v", err, rep.Files)
	}
	got := reportsByPath(rep)
	if r := got["box/inside.bin"]; r.Status != transfer.Failed || !strings.Contains(r.Err, "box/inside.bin: permission denied") {
		t.Errorf("box/inside.bin: status %q, error %q; want %q for the locked folder", r.Status, r.Err, transfer.Failed)
	}
	if r := got["beside.bin"]; !r.OK() {
		t.Errorf("beside.bin: status %q, error %q; want it delivered", r.Status, r.Err)
	}
	waitUntil(t, "the hub to release the space promised to the failed file", func() bool { return h.Promised() == 0 })
	if entries, err := os.ReadDir(locked); err != nil || len(entries) != 0 {
		t.Errorf("locked folder holds %v (%v), want nothing", entries, err)
	}

	if err := os.Chmod(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	rep, err = c.Upload(ctx, m, transfer.SendOptions{ResumeKey: key})
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("Upload after the folder was unlocked: %v; report %+v", err, rep.Files)
	}
	sameUploads(t, src, h.Dir)
}

// TestUnsentOfferReleasesItsRoomForOthers: a key holder whose offer was
// accepted, and who never sends a byte of it, holds the hub's disk for
// the stall only (made short here, 30 s by default); then an honest
// upload that the promise kept out fits. When the idle file's stream
// does start, late, the file finds no room: it fails with the reason,
// and its sender's session goes on.
func TestUnsentOfferReleasesItsRoomForOthers(t *testing.T) {
	const MiB = 1 << 20
	dir := tmpfsDir(t, "size=8m")
	const stall = 100 * time.Millisecond
	h := hubtest.Start(t, hub.Config{Dir: dir, Offers: transfer.Limits{Reserve: MiB, Stall: stall}})
	s, ctrl := rawSession(t, h.Addr)
	if err := sayHello(ctrl, "mallory"); err != nil {
		t.Fatal(err)
	}
	idle := protocol.File{Path: "idle.bin", Size: 6 * MiB, Mode: 0o644}
	if err := protocol.WriteMessage(ctrl, protocol.Offer{Transfer: "idle", Files: []protocol.File{idle}}); err != nil {
		t.Fatal(err)
	}
	if m := answer(t, ctrl, "idle"); m.Type() != "accept" {
		t.Fatalf("the idle offer: %v, want it accepted", m)
	}
	waitUntil(t, "the idle offer's promise to lapse", func() bool { return h.Promised() == 0 })

	// 4 MiB, where 7 MiB are free above the reserve: it fits only
	// because the idle offer's 6 MiB are no longer promised.
	src := t.TempDir()
	writeRandom(t, filepath.Join(src, "honest.bin"), 4*MiB)
	m, _, err := transfer.Scan(filepath.Join(src, "honest.bin"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	alice := hubtest.Dial(t, h.Addr, "alice")
	if rep, err := alice.Upload(ctx, m, transfer.SendOptions{}); err != nil || rep.Failed() != 0 {
		t.Fatalf("honest upload after the idle offer lapsed: %v; report %+v", err, rep)
	}
	sameUploads(t, src, dir)

	st, err := s.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	protocol.WriteHeader(st, protocol.DataHeader{Transfer: "idle", File: 0})
	if _, err := st.Write(make([]byte, idle.Size)); err != nil {
		t.Fatalf("sending the idle file late: %v", err)
	}
	protocol.WriteTrailer(st, protocol.Trailer{Hash: "xxh3-128:00000000000000000000000000000000"})
	res := result(t, ctrl, "idle")
	want := fmt.Sprintf("idle.bin: the space promised to it was released after %s without progress, and it now needs 6.0 MiB but only 4.0 MiB is free (1.0 MiB kept in reserve)", stall)
	if res.Error != want {
		t.Errorf("the late file's result: %+v, want the error %q", res, want)
	}
	if err := protocol.WriteMessage(ctrl, protocol.Who{}); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := protocol.ReadMessage(ctrl)
		if err != nil {
			t.Fatalf("mallory's session after the late file: %v", err)
		}
		if _, ok := m.(protocol.Clients); ok {
			break
		}
	}
	sameUploads(t, src, dir)
	if n := h.Promised(); n != 0 {
		t.Errorf("%d bytes still promised after every file ended", n)
	}
}

// TestOfferThatWouldUseUpTheInodesIsRefused: on a disk with few inodes,
// an offer of more empty files than can be created above the inode
// reserve is refused with the numbers, before anything is created, and
// the client's session goes on: an offer that fits is accepted.
func TestOfferThatWouldUseUpTheInodesIsRefused(t *testing.T) {
	// 100 inodes, of which the root takes one and the reserve keeps ten.
	dir := tmpfsDir(t, "size=8m,nr_inodes=100")
	h := hubtest.Start(t, hub.Config{Dir: dir, Offers: transfer.Limits{ReserveInodes: 10, Reserve: -1}})
	_, ctrl := rawSession(t, h.Addr)
	if err := sayHello(ctrl, "mallory"); err != nil {
		t.Fatal(err)
	}
	empty := make([]protocol.File, 90)
	for i := range empty {
		empty[i] = protocol.File{Path: fmt.Sprintf("e%d", i), Mode: 0o644}
	}
	if err := protocol.WriteMessage(ctrl, protocol.Offer{Transfer: "many", Files: empty}); err != nil {
		t.Fatal(err)
	}
	want := "offer needs 90 inodes, one per file and folder, but only 99 are free (10 kept in reserve)"
	if m := answer(t, ctrl, "many"); m != (protocol.Reject{Transfer: "many", Reason: want, Code: protocol.CodeNoRoom}) {
		t.Fatalf("the offer of 90 empty files: %+v, want it rejected with %q", m, want)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("the hub's folder holds %v (%v) after the refusal, want nothing", entries, err)
	}
	if err := protocol.WriteMessage(ctrl, protocol.Offer{Transfer: "fewer", Files: empty[:89]}); err != nil {
		t.Fatal(err)
	}
	if m := answer(t, ctrl, "fewer"); m.Type() != "accept" {
		t.Fatalf("the offer of 89 empty files: %v, want it accepted", m)
	}
}

// result reads ctrl until the Result of a file of transfer id.
func result(t *testing.T, ctrl net.Conn, id string) protocol.Result {
	t.Helper()
	ctrl.SetReadDeadline(time.Now().Add(wait))
	defer ctrl.SetReadDeadline(time.Time{})
	for {
		m, err := protocol.ReadMessage(ctrl)
		if err != nil {
			t.Fatalf("waiting for a result of %s: %v", id, err)
		}
		if r, ok := m.(protocol.Result); ok && r.Transfer == id {
			return r
		}
	}
}

// tmpfsDir mounts a tmpfs with the given options on a temporary folder and
// returns the folder; the test is skipped, with the reason, where that is
// not allowed. The tmpfs is unmounted when the test ends, after whatever
// the test starts afterwards (a hub storing into it) has been closed, as
// cleanups run last-registered first.
func tmpfsDir(t *testing.T, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v)", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes a new file at name until its file system has no room
// left, and keeps it. Whatever else is writing there meanwhile fails from
// then on.
func fillDisk(name string) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(name), &st); err != nil {
		return err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	// More than the file system's whole size must fail: if it does not,
	// something other than this disk is being filled.
	size := int64(st.Blocks) * st.Bsize
	buf := make([]byte, 1<<20)
	for written := int64(0); written <= size; {
		n, err := f.Write(buf)
		written += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("wrote more than the %d bytes the file system holds and it is still not full", size)
}

// partSizes maps the name of every part in dir (not below it) to its
// size.
func partSizes(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string]int64{}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".muxfer-") || !strings.HasSuffix(e.Name(), ".part") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		parts[e.Name()] = info.Size()
	}
	return parts
}

// sameUploads fails the test unless the hub's folder holds what src
// holds, with the same contents, and nothing else but the hub's records.
func sameUploads(t *testing.T, src, hubDir string) {
	t.Helper()
	want, got := hubtest.TreeHashes(t, src), hubtest.TreeHashes(t, hubDir)
	delete(got, transfer.RecordsFile)
	delete(got, hub.UploadsFile)
	for name, sum := range want {
		if got[name] != sum {
			t.Errorf("%s: the hub holds SHA-256 %.12q, sent %.12q", name, got[name], sum)
		}
	}
	for name := range got {
		if _, sent := want[name]; !sent {
			t.Errorf("%s: in the hub's folder, but not sent", name)
		}
	}
}

// reportsByPath indexes a report's files by path.
func reportsByPath(rep *transfer.Report) map[string]transfer.FileReport {
	out := map[string]transfer.FileReport{}
	for _, r := range rep.Files {
		out[r.Path] = r
	}
	return out
}
