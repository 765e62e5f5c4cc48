package main

import (
	"io"
	"strings"
	"testing"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/protocol"
)

// textInbox is an inbox into "drop" whose ui prints text lines into out.
func textInbox(t *testing.T) (*inbox, *ui, *strings.Builder) {
	t.Helper()
	u, err := newUI(io.Discard, io.Discard, false, "never")
	if err != nil {
		t.Fatal(err)
	}
	out := &strings.Builder{}
	u.out = out
	return newInbox(u, "drop"), u, out
}

// TestInboxFollowsAnAcceptedOffer: bytes of files on parallel streams
// arrive interleaved; the download's line counts each file once and every
// byte, and the transfer ends with its last file's outcome.
func TestInboxFollowsAnAcceptedOffer(t *testing.T) {
	b, u, out := textInbox(t)
	o := protocol.Offer{Transfer: "t1", From: "alice", Files: []protocol.File{
		{Path: "d", Dir: true}, {Path: "d/a", Size: 30}, {Path: "d/b", Size: 20}}}
	b.offered(o, client.Accept)
	b.started(1, o)
	for _, p := range []struct{ file, n int }{{1, 10}, {2, 10}, {1, 10}, {2, 10}, {1, 10}} {
		b.progress("t1", p.file, p.n)
	}
	b.mu.Lock()
	m := b.running["t1"].progress.m
	b.mu.Unlock()
	u.mu.Lock()
	opened, done, file := m.opened, m.done, m.file
	u.mu.Unlock()
	if opened != 2 || done != 50 || file != "d/b" {
		t.Errorf("the line counts %d files opened, %d bytes, file %q; want 2, 50, d/b", opened, done, file)
	}
	b.received(protocol.Result{Transfer: "t1", File: 1, Hash: "xxh3-128:00", Stored: "d/a"})
	b.received(protocol.Result{Transfer: "t1", File: 2, Error: "d/b: hash mismatch"})
	if b.failures() != 1 || len(b.running) != 0 {
		t.Errorf("after both outcomes: %d failures, %d running; want 1, 0", b.failures(), len(b.running))
	}
	for _, want := range []string{
		"* alice offers 2 files and 1 folder (50 B): accepted, into drop",
		"received d/a from alice",
		"FAILED from alice: d/b: hash mismatch",
		"* offer 1 from alice: received 1 of 2 files (30 B) in ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestOfferArgs(t *testing.T) {
	for _, tt := range []struct{ in, num, rest string }{
		{"", "", ""},
		{"2", "2", ""},
		{" #3 ", "#3", ""},
		{"2 no room here", "2", "no room here"},
		{"not now", "", "not now"},
		{"2x later", "", "2x later"},
	} {
		if num, rest := offerArgs(tt.in); num != tt.num || rest != tt.rest {
			t.Errorf("offerArgs(%q) = %q, %q; want %q, %q", tt.in, num, rest, tt.num, tt.rest)
		}
	}
}

// TestInboxForgetsAConnectionsOffers: after a reconnect, offers waiting
// on the old connection are reported gone and transfers arriving on it
// end their lines, though some of their files never had an outcome.
func TestInboxForgetsAConnectionsOffers(t *testing.T) {
	b, u, out := textInbox(t)
	files := []protocol.File{{Path: "a", Size: 1}, {Path: "b", Size: 1}}
	b.offered(protocol.Offer{Transfer: "w", From: "carol", Files: files}, client.Ask)
	running := protocol.Offer{Transfer: "r", From: "alice", Files: files}
	b.offered(running, client.Accept)
	b.started(2, running)
	b.received(protocol.Result{Transfer: "r", File: 0, Hash: "xxh3-128:00", Stored: "a"})
	b.forget()
	if len(b.waiting) != 0 || len(b.running) != 0 {
		t.Errorf("after forget: %d waiting, %d running; want none", len(b.waiting), len(b.running))
	}
	u.mu.Lock()
	meters := len(u.meters)
	u.mu.Unlock()
	if meters != 0 {
		t.Errorf("%d progress lines left, want none", meters)
	}
	for _, want := range []string{
		"* offer 1 from carol is gone with the connection",
		"* offer 2 from alice cut by the lost connection after 1 of 2 files",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	b.progress("r", 1, 1) // a late byte from the old connection
}
