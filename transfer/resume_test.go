package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muxfer/muxfer/protocol"
)

// Tokens name the parts and records a receiver keeps: they may never
// change from one version to the next, or a sender coming back after an
// upgrade would start its files again.
func TestResumeTokenIsStable(t *testing.T) {
	tests := []struct {
		key  string
		f    protocol.File
		want string
	}{
		{"golden key", protocol.File{Path: "dir/é file.txt", Size: 4096, MTime: -1_700_000_000_123_456_789}, "9312db45df4762d1371e301b5f5f857a"},
		{"", protocol.File{}, "615d64bfd0da19ca0a7e75f50f36d5e0"},
	}
	for _, tt := range tests {
		if got := ResumeToken([]byte(tt.key), tt.f); got != tt.want {
			t.Errorf("ResumeToken(%q, %+v) = %s, want %s", tt.key, tt.f, got, tt.want)
		}
		// Many tokens from one tokenMAC are each the same as alone.
		mac := newTokenMAC([]byte(tt.key))
		for range 2 {
			if got := mac.token(tt.f); got != tt.want {
				t.Errorf("tokenMAC(%q).token(%+v) = %s, want %s", tt.key, tt.f, got, tt.want)
			}
		}
	}
}

func TestResumeTokenDependsOnKeyPathSizeAndTime(t *testing.T) {
	f := protocol.File{Path: "dir/a.bin", Size: 100, Mode: 0o644, MTime: 1_700_000_000_000_000_000}
	base := ResumeToken([]byte("key"), f)
	if err := checkResumeToken(base); err != nil {
		t.Fatalf("token %q: %v", base, err)
	}
	if again := ResumeToken([]byte("key"), f); again != base {
		t.Errorf("the same file gave %q, then %q", base, again)
	}
	chmod := f
	chmod.Mode = 0o600
	if tok := ResumeToken([]byte("key"), chmod); tok != base {
		t.Errorf("a new mode changed the token: the bytes are the same, so the part still fits")
	}
	changes := map[string]func(*protocol.File, *[]byte){
		"key":   func(_ *protocol.File, k *[]byte) { *k = []byte("other") },
		"path":  func(f *protocol.File, _ *[]byte) { f.Path = "dir/b.bin" },
		"size":  func(f *protocol.File, _ *[]byte) { f.Size++ },
		"mtime": func(f *protocol.File, _ *[]byte) { f.MTime++ },
	}
	for name, change := range changes {
		g, key := f, []byte("key")
		change(&g, &key)
		if ResumeToken(key, g) == base {
			t.Errorf("another %s, the same token", name)
		}
	}
}

func TestCheckOfferRefusesBadResumeTokens(t *testing.T) {
	good := strings.Repeat("0a", 16)
	tests := []struct {
		name  string
		entry protocol.File
	}{
		{"short", protocol.File{Path: "a", Size: 1, Resume: good[:30]}},
		{"long", protocol.File{Path: "a", Size: 1, Resume: good + "00"}},
		{"upper case", protocol.File{Path: "a", Size: 1, Resume: strings.ToUpper(good)}},
		{"not hex", protocol.File{Path: "a", Size: 1, Resume: strings.Repeat("zz", 16)}},
		{"path separator", protocol.File{Path: "a", Size: 1, Resume: "../" + good[3:]}},
		{"on a folder", protocol.File{Path: "a", Dir: true, Resume: good}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckOffer(protocol.Offer{Transfer: "t1", Files: []protocol.File{tt.entry}})
			if err == nil || !strings.Contains(err.Error(), "resume token") {
				t.Errorf("CheckOffer = %v, want a bad resume token", err)
			}
		})
	}
	if err := CheckOffer(protocol.Offer{Transfer: "t1", Files: []protocol.File{{Path: "a", Size: 1, Resume: good}}}); err != nil {
		t.Errorf("a good token: %v", err)
	}
	twice := protocol.Offer{Transfer: "t1", Files: []protocol.File{{Path: "a", Size: 1, Resume: good}, {Path: "b", Size: 1, Resume: good}}}
	if err := CheckOffer(twice); err == nil || !strings.Contains(err.Error(), `"a" and "b": the same resume token`) {
		t.Errorf("one token on two entries: %v", err)
	}
}

func TestCheckPathKeepsPartNamesForTheReceiver(t *testing.T) {
	for _, p := range []string{".muxfer-0123.part", "dir/.muxfer-x", ".muxfer-/a", ".MUXFER-records", "d/.Muxfer-1.part"} {
		if err := CheckPath(p); err == nil || !strings.Contains(err.Error(), "partial files") {
			t.Errorf("CheckPath(%q) = %v, want it refused", p, err)
		}
	}
	for _, p := range []string{".muxfer", "muxfer-x.part", "a/.muxferx"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q) = %v", p, err)
		}
	}
}

// resumable is a file entry with a resume token, as a sender offers it.
func resumable(path string, content []byte) protocol.File {
	f := protocol.File{Path: path, Size: int64(len(content)), Mode: 0o644, MTime: 1_700_000_000_000_000_000}
	f.Resume = ResumeToken([]byte("test key"), f)
	return f
}

// cutStream is a data stream that ends, with err, after the first n
// bytes of content.
func cutStream(content []byte, n int) io.Reader {
	return io.MultiReader(bytes.NewReader(content[:n]), errReader{errors.New("connection lost")})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// parts lists the parts under dir.
func parts(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, p := range listTree(t, dir) {
		if isPartName(filepath.Base(p)) {
			out = append(out, p)
		}
	}
	return out
}

// cutOnce offers f to r and cuts its stream after n bytes.
func cutOnce(t *testing.T, r *Receiver, id string, f protocol.File, content []byte, n int) {
	t.Helper()
	in := prepare(t, r, id, f)
	res, err := in.Receive(protocol.DataHeader{Transfer: id}, cutStream(content, n))
	if err != nil || res.Error == "" {
		t.Fatalf("Receive of a cut stream: %+v, %v; want a failed result", res, err)
	}
}

func TestReceiverKeepsPartOfCutFileAndResumesIt(t *testing.T) {
	r, dir := newTestReceiver(t)
	content := randomBytes(5000, 1)
	f := resumable("dir/a.bin", content)
	cutOnce(t, r, "t1", f, content, 1200)
	if got := parts(t, dir); len(got) != 1 {
		t.Fatalf("parts after the cut: %q, want one", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "dir", "a.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a.bin exists under its final name after a cut: %v", err)
	}
	if p := r.Promised(); p != 0 {
		t.Errorf("%d bytes still promised after the cut", p)
	}

	in := prepare(t, r, "t2", f)
	want := []protocol.Have{{File: 0, Offset: 1200, Hash: hashOf(content[:1200])}}
	if got := in.Accept().Have; !equalHave(got, want) {
		t.Fatalf("Accept.Have = %+v, want %+v", got, want)
	}
	if p := r.Promised(); p != 5000-1200 {
		t.Errorf("promised %d bytes, want only the %d still to come", p, 5000-1200)
	}
	res, err := in.Receive(protocol.DataHeader{Transfer: "t2", Offset: 1200}, dataStream(t, content[1200:], hashOf(content)))
	if err != nil || res.Error != "" || res.Hash != hashOf(content) || res.Stored != "dir/a.bin" {
		t.Fatalf("resumed Receive: %+v, %v", res, err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "dir", "a.bin"))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("stored file differs from the one sent (%v)", err)
	}
	if p := parts(t, dir); len(p) != 0 {
		t.Errorf("parts left after the file was stored: %q", p)
	}
	if p := r.Promised(); p != 0 {
		t.Errorf("%d bytes still promised", p)
	}
}

func equalHave(a, b []protocol.Have) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestOfferFindsPartsInEveryFolder: the parts of an offer's files are
// found however the offer orders them: at the top, in nested folders, in
// a folder left and come back to. A file without a part, or whose folder
// is missing, has none.
func TestOfferFindsPartsInEveryFolder(t *testing.T) {
	r, _ := newTestReceiver(t)
	content := randomBytes(5000, 3)
	var files []protocol.File
	var want []protocol.Have
	for i, p := range []string{"top.bin", "a/x.bin", "b/c/y.bin", "b/c/none.bin", "a/z.bin", "new/w.bin"} {
		f := resumable(p, content)
		files = append(files, f)
		if strings.HasPrefix(p, "new/") || strings.Contains(p, "none") {
			continue
		}
		n := 1000 + 100*i
		cutOnce(t, r, fmt.Sprintf("cut%d", i), f, content, n)
		want = append(want, protocol.Have{File: i, Offset: int64(n), Hash: hashOf(content[:n])})
	}
	in := prepare(t, r, "all", files...)
	defer in.Abandon()
	if got := in.Accept().Have; !equalHave(got, want) {
		t.Errorf("Accept.Have = %+v, want %+v", got, want)
	}
}

// TestReceiverResumeCases covers what can happen to a file whose part
// holds its first 1200 bytes when the sender comes back.
func TestReceiverResumeCases(t *testing.T) {
	content := randomBytes(5000, 2)
	tests := []struct {
		name      string
		offset    int64
		stream    []byte
		trailer   string
		wantErr   string // in the Result; "" means stored
		wantParts int    // parts left afterwards
	}{
		{"sender starts again from 0", 0, content, hashOf(content), "", 0},
		{"offset the receiver did not offer", 600, content[600:], hashOf(content), "cannot resume at byte 600", 1},
		{"offset past the part", 2000, content[2000:], hashOf(content), "cannot resume at byte 2000", 1},
		{"whole file hash differs", 1200, bytes.Repeat([]byte{'x'}, 3800), hashOf(content), "hash mismatch", 0},
		{"cut again", 1200, content[1200:3000], "", "stream ended", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, dir := newTestReceiver(t)
			f := resumable("a.bin", content)
			cutOnce(t, r, "t1", f, content, 1200)
			in := prepare(t, r, "t2", f)
			var src io.Reader = bytes.NewReader(tt.stream)
			if tt.trailer != "" {
				src = dataStream(t, tt.stream, tt.trailer)
			}
			res, err := in.Receive(protocol.DataHeader{Transfer: "t2", Offset: tt.offset}, src)
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			if tt.wantErr == "" && (res.Error != "" || res.Stored != "a.bin") || tt.wantErr != "" && !strings.Contains(res.Error, tt.wantErr) {
				t.Errorf("Result %+v, want error %q", res, tt.wantErr)
			}
			if got := parts(t, dir); len(got) != tt.wantParts {
				t.Errorf("parts afterwards: %q, want %d", got, tt.wantParts)
			}
			_, err = os.Stat(filepath.Join(dir, "a.bin"))
			if stored := err == nil; stored != (tt.wantErr == "") {
				t.Errorf("a.bin stored: %v, want %v", stored, tt.wantErr == "")
			}
			if p := r.Promised(); p != 0 {
				t.Errorf("%d bytes still promised", p)
			}
		})
	}
}

// TestReceiverConfirmsStoredFileInsteadOfStoringItTwice: the result of a
// stored file was lost with the connection, so the sender offers it again.
func TestReceiverConfirmsStoredFileInsteadOfStoringItTwice(t *testing.T) {
	r, dir := newTestReceiver(t)
	content := randomBytes(3000, 3)
	f := resumable("a.bin", content)
	in := prepare(t, r, "t1", f)
	if res, err := in.Receive(protocol.DataHeader{Transfer: "t1"}, dataStream(t, content, hashOf(content))); err != nil || res.Error != "" {
		t.Fatalf("first Receive: %+v, %v", res, err)
	}

	in = prepare(t, r, "t2", f)
	want := []protocol.Have{{File: 0, Offset: 3000, Hash: hashOf(content)}}
	if got := in.Accept().Have; !equalHave(got, want) {
		t.Fatalf("Accept.Have = %+v, want %+v", got, want)
	}
	if p := r.Promised(); p != 0 {
		t.Errorf("promised %d bytes for a file that is there", p)
	}
	res, err := in.Receive(protocol.DataHeader{Transfer: "t2", Offset: 3000}, dataStream(t, nil, hashOf(content)))
	if err != nil || res.Error != "" || res.Stored != "a.bin" || res.Hash != hashOf(content) {
		t.Fatalf("confirming Receive: %+v, %v", res, err)
	}
	if got := listTree(t, dir); len(got) != 1 || got[0] != "a.bin" {
		t.Errorf("receiver holds %q, want a.bin once", got)
	}

	// A trailer with another hash confirms nothing.
	in = prepare(t, r, "t3", f)
	res, _ = in.Receive(protocol.DataHeader{Transfer: "t3", Offset: 3000}, dataStream(t, nil, hashOf([]byte("other"))))
	if !strings.Contains(res.Error, "hash mismatch") {
		t.Errorf("confirming with the wrong hash: %+v", res)
	}

	// Once the stored file is gone, the offer starts from byte 0.
	if err := os.Remove(filepath.Join(dir, "a.bin")); err != nil {
		t.Fatal(err)
	}
	in = prepare(t, r, "t4", f)
	if h := in.Accept().Have; len(h) != 0 {
		t.Errorf("Have = %+v for a file that was removed", h)
	}
	in.Abandon()
}

// TestNewerOfferTakesOverAFileNotStarted: a sender back after a cut
// finds its old transfer still holding the file's token (the receiver has
// not yet noticed the old connection is gone). The newer offer takes the
// file over; a stream for it on the old transfer gets a failed result,
// not a protocol error; the file is stored once.
func TestNewerOfferTakesOverAFileNotStarted(t *testing.T) {
	r, dir := newTestReceiver(t)
	content := randomBytes(4000, 4)
	f := resumable("a.bin", content)
	cutOnce(t, r, "t1", f, content, 1000)

	old := prepare(t, r, "t2", f)
	newer := prepare(t, r, "t3", f)
	if h := newer.Accept().Have; len(h) != 1 || h[0].Offset != 1000 {
		t.Fatalf("newer offer: Have %+v, want the part of 1000 bytes", h)
	}
	if !old.Done() || old.Stats() != (Stats{Failed: 1}) {
		t.Errorf("old transfer: done %v, %+v; want its file given up", old.Done(), old.Stats())
	}
	if p := r.Promised(); p != 3000 {
		t.Errorf("promised %d bytes, want the newer offer's 3000 only", p)
	}
	res, err := old.Receive(protocol.DataHeader{Transfer: "t2"}, dataStream(t, content, hashOf(content)))
	if err != nil || !strings.Contains(res.Error, "took it over") {
		t.Errorf("the old transfer's stream: %+v, %v; want a result saying the file was taken over", res, err)
	}
	res, err = newer.Receive(protocol.DataHeader{Transfer: "t3", Offset: 1000}, dataStream(t, content[1000:], hashOf(content)))
	if err != nil || res.Error != "" {
		t.Fatalf("newer: %+v, %v", res, err)
	}
	if got := listTree(t, dir); len(got) != 1 || got[0] != "a.bin" {
		t.Errorf("receiver holds %q, want a.bin once", got)
	}
	if p := r.Promised(); p != 0 {
		t.Errorf("%d bytes still promised", p)
	}
}

// abortable is a stream that blocks until Abort, like a data stream whose
// sender has gone silent, after giving its first bytes. silent is closed
// when it starts to block: the reader has then written every byte it got
// (it writes each read before it reads again).
type abortable struct {
	first   io.Reader
	silent  chan struct{}
	aborted chan struct{}
	once    sync.Once
	quiet   sync.Once
}

func (a *abortable) Read(p []byte) (int, error) {
	if n, _ := a.first.Read(p); n > 0 {
		return n, nil
	}
	a.quiet.Do(func() { close(a.silent) })
	<-a.aborted
	return 0, errors.New("stream aborted")
}

func (a *abortable) Abort() { a.once.Do(func() { close(a.aborted) }) }

// TestNewerOfferTakesOverAFileBeingReceived: the old transfer's stream is
// still open (a silent sender behind a dead link); the newer offer aborts
// it, and resumes from what it wrote.
func TestNewerOfferTakesOverAFileBeingReceived(t *testing.T) {
	r, dir := newTestReceiver(t)
	content := randomBytes(4000, 11)
	f := resumable("a.bin", content)
	old := prepare(t, r, "t1", f)
	stream := &abortable{first: bytes.NewReader(content[:1500]), silent: make(chan struct{}), aborted: make(chan struct{})}
	oldDone := make(chan protocol.Result, 1)
	go func() {
		res, _ := old.Receive(protocol.DataHeader{Transfer: "t1"}, stream)
		oldDone <- res
	}()
	// Wait until the old transfer has written its 1500 bytes and waits
	// for more.
	select {
	case <-stream.silent:
	case <-time.After(eventTimeout):
		t.Fatal("the old transfer never read its 1500 bytes")
	}
	newer := prepare(t, r, "t2", f)
	if h := newer.Accept().Have; len(h) != 1 || h[0].Offset != 1500 || h[0].Hash != hashOf(content[:1500]) {
		t.Fatalf("newer offer: Have %+v, want the 1500 bytes the old transfer wrote", h)
	}
	if res := <-oldDone; !strings.Contains(res.Error, "took it over") {
		t.Errorf("old transfer's result: %+v, want it taken over", res)
	}
	res, err := newer.Receive(protocol.DataHeader{Transfer: "t2", Offset: 1500}, dataStream(t, content[1500:], hashOf(content)))
	if err != nil || res.Error != "" {
		t.Fatalf("newer: %+v, %v", res, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "a.bin")); !bytes.Equal(got, content) {
		t.Error("a.bin differs from the file sent")
	}
}

// TestOfferIsBusyWhileAnOldTransferWillNotLetGo: a holder that cannot be
// aborted (its stream has no Abort) keeps the file; the newer offer fails
// with ErrBusy after the wait, holding nothing.
func TestOfferIsBusyWhileAnOldTransferWillNotLetGo(t *testing.T) {
	r, _ := newTestReceiver(t)
	r.claimWait = 20 * time.Millisecond
	content := randomBytes(2000, 12)
	f := resumable("a.bin", content)
	old := prepare(t, r, "t1", f)
	pr, pw := io.Pipe()
	defer pw.Close()
	oldDone := make(chan struct{})
	reading := &firstRead{r: pr, started: make(chan struct{})}
	go func() {
		defer close(oldDone)
		old.Receive(protocol.DataHeader{Transfer: "t1"}, reading)
	}()
	// The old transfer reads its stream once it receives the file.
	select {
	case <-reading.started:
	case <-time.After(eventTimeout):
		t.Fatal("the old transfer never started receiving")
	}
	if !isReceiving(old) {
		t.Fatal("the old transfer read its stream without receiving the file")
	}
	promised := r.Promised()
	_, err := r.Prepare(protocol.Offer{Transfer: "t2", Files: []protocol.File{f}})
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Prepare = %v, want ErrBusy", err)
	}
	if p := r.Promised(); p != promised {
		t.Errorf("promised %d bytes after a busy refusal, want %d as before", p, promised)
	}
	pw.CloseWithError(errors.New("cut"))
	<-oldDone
	if h := prepare(t, r, "t3", f).Accept().Have; len(h) != 0 {
		t.Errorf("Have = %+v; the old transfer wrote nothing", h)
	}
}

// firstRead closes started when its first Read begins.
type firstRead struct {
	r       io.Reader
	started chan struct{}
	once    sync.Once
}

func (f *firstRead) Read(p []byte) (int, error) {
	f.once.Do(func() { close(f.started) })
	return f.r.Read(p)
}

func isReceiving(in *Incoming) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.state[0] == receiving
}

// TestAbandonReleasesTheTokens: a transfer whose sender went away frees
// its files' tokens, so that the sender's next offer resumes them.
func TestAbandonReleasesTheTokens(t *testing.T) {
	r, _ := newTestReceiver(t)
	content := randomBytes(2000, 5)
	f := resumable("a.bin", content)
	cutOnce(t, r, "t1", f, content, 500)
	in := prepare(t, r, "t2", f)
	in.Abandon()
	if p := r.Promised(); p != 0 {
		t.Errorf("%d bytes promised after Abandon", p)
	}
	if h := prepare(t, r, "t3", f).Accept().Have; len(h) != 1 || h[0].Offset != 500 {
		t.Errorf("after Abandon, Have = %+v, want the part of 500 bytes", h)
	}
}

func TestSweepRemovesOnlyOldIdleParts(t *testing.T) {
	r, dir := newTestReceiver(t)
	r.KeepParts = time.Hour
	content := randomBytes(2000, 6)
	old, held, fresh := resumable("old.bin", content), resumable("held.bin", content), resumable("fresh.bin", content)
	for i, f := range []protocol.File{old, held, fresh} {
		cutOnce(t, r, "t"+string(rune('1'+i)), f, content, 700)
	}
	for _, f := range []protocol.File{old, held} {
		p := filepath.Join(dir, keyPartName(partKey(f.Resume)))
		then := time.Now().Add(-2 * time.Hour)
		if err := os.Chtimes(p, then, then); err != nil {
			t.Fatal(err)
		}
	}
	// A file of the user's that looks like a part but is not one of the
	// receiver's names is left alone (no sender can create such a name).
	if err := os.WriteFile(filepath.Join(dir, "notes.part"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := prepare(t, r, "t9", held) // held by a transfer in progress
	defer in.Abandon()

	n, err := r.Sweep()
	if err != nil || n != 1 {
		t.Errorf("Sweep = %d, %v; want 1 part removed", n, err)
	}
	if got, want := parts(t, dir), []string{keyPartName(partKey(held.Resume)), keyPartName(partKey(fresh.Resume))}; len(got) != 2 || !sameSet(got, want) {
		t.Errorf("parts left: %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.part")); err != nil {
		t.Errorf("the user's notes.part: %v", err)
	}
}

// SweepContext looks at no more entries than its limit, and at none once
// its context has ended.
func TestSweepContextStopsAtItsLimit(t *testing.T) {
	r, dir := newTestReceiver(t)
	r.KeepParts = time.Hour
	then := time.Now().Add(-2 * time.Hour)
	const n = 10
	for i := range n {
		p := filepath.Join(dir, keyPartName(partKey(fmt.Sprint("token", i))))
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, then, then); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, err := r.SweepContext(ctx, 0); got != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: removed %d, %v; want 0 and context.Canceled", got, err)
	}
	// The folder itself is the first entry looked at.
	if got, err := r.SweepContext(context.Background(), 4); got != 3 || err != nil {
		t.Errorf("limit 4: removed %d, %v; want 3", got, err)
	}
	if got, err := r.SweepContext(context.Background(), 0); got != n-3 || err != nil {
		t.Errorf("no limit: removed %d, %v; want the other %d", got, err, n-3)
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return len(a) == len(b)
}

// TestSendResumesFromTheReceiversPart runs both ends: a second Send with
// the same key sends only what the receiver lacks, and one with another
// key starts over.
func TestSendResumesFromTheReceiversPart(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{"dir/big.bin": string(randomBytes(8<<20, 7))})
	m := scan(t, filepath.Join(src, "dir"))
	c, h := startPair(t, hubOptions{cutAfter: 3 << 20})
	key := []byte("resume key")
	if _, err := send(t, c, m, SendOptions{ResumeKey: key}); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("first Send: %v, want the connection lost", err)
	}
	h.stop()

	var wrote, held int64
	c2, h2 := startPair(t, hubOptions{recv: h.recv})
	obs := Observer{Wrote: func(n int) { wrote += int64(n) }, Held: func(n int64) { held += n }}
	rep, err := send(t, c2, m, SendOptions{ResumeKey: key, Observer: obs})
	if err != nil {
		t.Fatalf("second Send: %v", err)
	}
	r := rep.Files[0]
	if !r.OK() || r.Resumed < 3<<20-bufSize {
		t.Fatalf("report %+v, want it delivered after resuming from about 3 MiB", r)
	}
	var trailer bytes.Buffer
	protocol.WriteTrailer(&trailer, protocol.Trailer{Hash: r.Hash})
	if got, want := h2.received.Load(), 8<<20-r.Resumed+int64(trailer.Len()); got != want {
		t.Errorf("the receiver read %d bytes, want only the %d it lacked and the trailer's %d", got, 8<<20-r.Resumed, trailer.Len())
	}
	if wrote+held != 8<<20 || held != r.Resumed {
		t.Errorf("progress counted %d bytes sent and %d held, want the whole file, %d of it held", wrote, held, r.Resumed)
	}
	h2.stop()
	checkDelivered(t, m, rep, h.dir)
}

// TestRecordsSurviveARestart: a receiver that stored a file, and then
// restarted (a new Receiver on the same folder), still confirms it rather
// than store it twice; records too old, and lines that do not parse, are
// dropped when the file is read.
func TestRecordsSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *Receiver {
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { root.Close() })
		r := NewReceiver(root)
		if err := r.OpenRecords(); err != nil {
			t.Fatalf("OpenRecords: %v", err)
		}
		t.Cleanup(func() { r.CloseRecords() })
		return r
	}
	content := randomBytes(1000, 9)
	f := resumable("a.bin", content)
	r := open()
	in := prepare(t, r, "t1", f)
	if res, _ := in.Receive(protocol.DataHeader{Transfer: "t1"}, dataStream(t, content, hashOf(content))); res.Error != "" {
		t.Fatalf("Receive: %+v", res)
	}
	r.CloseRecords()
	// An old record and a line of garbage, as a crash or another version
	// might leave them.
	old, _ := json.Marshal(recordLine{Key: strings.Repeat("ab", 16), Stored: "old.bin", At: time.Now().Add(-3 * DefaultKeepParts).Unix()})
	j, err := os.OpenFile(filepath.Join(dir, RecordsFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	j.Write(append(old, '\n'))
	j.WriteString("{not json\n")
	j.Close()

	r = open()
	if h := prepare(t, r, "t2", f).Accept().Have; len(h) != 1 || h[0].Offset != 1000 || h[0].Hash != hashOf(content) {
		t.Errorf("after a restart, Have = %+v, want the whole stored file", h)
	}
	b, err := os.ReadFile(filepath.Join(dir, RecordsFile))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], `"s":"a.bin"`) {
		t.Errorf("records file holds %q, want the one live record", lines)
	}
	if got := listTree(t, dir); len(got) != 2 {
		t.Errorf("receiver's folder holds %q, want a.bin and the records", got)
	}
}

// TestReceiverKeepsNoEmptyPart: a resumable file whose stream ends before
// its first byte leaves nothing; there is nothing to resume.
func TestReceiverKeepsNoEmptyPart(t *testing.T) {
	r, dir := newTestReceiver(t)
	content := randomBytes(1000, 10)
	cutOnce(t, r, "t1", resumable("a.bin", content), content, 0)
	if got := listTree(t, dir); len(got) != 0 {
		t.Errorf("receiver holds %q, want nothing", got)
	}
}

// TestLargePartIsNotReadAgain: the receiver keeps the hash state of a
// large part from the moment it was cut, so an offer does not read the
// part again (a hostile offer could otherwise make it hash gigabytes for
// a hundred bytes). It trusts a part it wrote while the part keeps its
// size and mtime, as it trusts any file it wrote; a part changed in the
// usual way (a new mtime) is read again.
func TestLargePartIsNotReadAgain(t *testing.T) {
	r, dir := newTestReceiver(t)
	content := randomBytes(2*minStateSize, 13)
	f := resumable("big.bin", content)
	held := minStateSize + 100
	cutOnce(t, r, "t1", f, content, held)
	part := filepath.Join(dir, parts(t, dir)[0])
	info, err := os.Stat(part)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, held)
	if err := os.WriteFile(part, zeros, 0o644); err != nil {
		t.Fatal(err)
	}
	// Size and mtime as they were: the kept state answers, unread.
	if err := os.Chtimes(part, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	in := prepare(t, r, "t2", f)
	if have := in.Accept().Have; len(have) != 1 || have[0].Hash != hashOf(content[:held]) {
		t.Fatalf("Have = %+v, want the hash kept from the cut", have)
	}
	in.Abandon()
	// A new mtime: read again.
	later := info.ModTime().Add(time.Second)
	if err := os.Chtimes(part, later, later); err != nil {
		t.Fatal(err)
	}
	in = prepare(t, r, "t3", f)
	if have := in.Accept().Have; len(have) != 1 || have[0].Hash != hashOf(zeros) {
		t.Fatalf("Have = %+v, want the hash of the part as it is now", have)
	}
	// The sender's prefix differs, so it sends from byte 0.
	res, _ := in.Receive(protocol.DataHeader{Transfer: "t3"}, dataStream(t, content, hashOf(content)))
	if res.Error != "" {
		t.Fatalf("sent again from 0: %+v", res)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "big.bin")); !bytes.Equal(got, content) {
		t.Error("big.bin differs from the file sent")
	}
}

// TestRecordsFileSkipsLongLinesAndKeepsNamesShort: "&" and "<" are
// written as themselves, and a line too long to be a record is skipped
// without losing the records after it.
func TestRecordsFileSkipsLongLinesAndKeepsNamesShort(t *testing.T) {
	r, dir := newTestReceiver(t)
	if err := r.OpenRecords(); err != nil {
		t.Fatal(err)
	}
	content := []byte("x")
	f := resumable("a&b<c>.txt", content)
	in := prepare(t, r, "t1", f)
	if res, _ := in.Receive(protocol.DataHeader{Transfer: "t1"}, dataStream(t, content, hashOf(content))); res.Error != "" {
		t.Fatal(res.Error)
	}
	r.CloseRecords()
	b, err := os.ReadFile(filepath.Join(dir, RecordsFile))
	if err != nil || !strings.Contains(string(b), `"s":"a&b<c>.txt"`) {
		t.Fatalf("records file %q, %v; want the name unescaped", b, err)
	}
	long := `{"k":"` + strings.Repeat("a", 2*maxRecordLine) + "\"}\n"
	if err := os.WriteFile(filepath.Join(dir, RecordsFile), append([]byte(long), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	r2 := NewReceiver(root)
	if err := r2.OpenRecords(); err != nil {
		t.Fatal(err)
	}
	defer r2.CloseRecords()
	if h := prepare(t, r2, "t2", f).Accept().Have; len(h) != 1 || h[0].Offset != 1 {
		t.Errorf("Have = %+v: the record after the long line was lost", h)
	}
}
