package main

import (
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/protocol"
)

// textView is a view into "drop" whose ui prints text lines into out.
func textView(t *testing.T) (*view, *ui, *strings.Builder) {
	t.Helper()
	u, err := newUI(io.Discard, io.Discard, false, "never")
	if err != nil {
		t.Fatal(err)
	}
	out := &strings.Builder{}
	u.out = out
	return newView(u, "drop"), u, out
}

// TestViewFollowsAnAcceptedOffer: bytes of files on parallel streams
// arrive interleaved; the download's line counts each file once and every
// byte, and the transfer ends with its last file's outcome.
func TestViewFollowsAnAcceptedOffer(t *testing.T) {
	v, u, out := textView(t)
	o := client.Offer{N: 1, Transfer: "t1", From: "alice", Decision: client.Accept, Files: []protocol.File{
		{Path: "d", Dir: true}, {Path: "d/a", Size: 30}, {Path: "d/b", Size: 20}}}
	v.show(client.Offered{Offer: o})
	v.show(client.FileStarted{Offer: 1, Path: "d/a"})
	v.show(client.FileStarted{Offer: 1, Path: "d/b"})
	v.show(client.Progress{Offer: 1, Bytes: 50})
	m := v.downloads[1].m
	u.mu.Lock()
	opened, done, file := m.opened, m.done, m.file
	u.mu.Unlock()
	if opened != 2 || done != 50 || file != "d/b" {
		t.Errorf("the line counts %d files opened, %d bytes, file %q; want 2, 50, d/b", opened, done, file)
	}
	v.show(client.FileDone{Offer: 1, File: 1, From: "alice", Report: client.FileReport{Path: "d/a", Status: client.Delivered, Hash: "xxh3-128:00", Stored: "d/a"}})
	v.show(client.FileDone{Offer: 1, File: 2, From: "alice", Report: client.FileReport{Path: "d/b", Status: client.Failed, Err: "d/b: hash mismatch"}})
	v.show(client.OfferDone{Offer: o, Received: 1, Failed: 1, Bytes: 30, Elapsed: time.Second})
	if v.failed != 1 || len(v.downloads) != 0 {
		t.Errorf("after both outcomes: %d failures, %d lines; want 1, 0", v.failed, len(v.downloads))
	}
	u.mu.Lock()
	meters := len(u.meters)
	u.mu.Unlock()
	if meters != 0 {
		t.Errorf("%d progress lines left, want none", meters)
	}
	for _, want := range []string{
		"* alice offers 2 files and 1 folder (50 B): accepted, into drop",
		"received d/a from alice",
		"FAILED from alice: d/b: hash mismatch",
		"* offer 1 from alice: received 1 of 2 files (30 B) in 1s, 1 failed",
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

// TestViewDrawsAConnectionsOffersGone: after a lost connection, offers
// waiting on it are reported gone and transfers arriving on it end their
// lines, though some of their files never had an outcome.
func TestViewDrawsAConnectionsOffersGone(t *testing.T) {
	v, u, out := textView(t)
	files := []protocol.File{{Path: "a", Size: 1}, {Path: "b", Size: 1}}
	waiting := client.Offer{N: 1, Transfer: "w", From: "carol", Files: files, Decision: client.Ask}
	running := client.Offer{N: 2, Transfer: "r", From: "alice", Files: files, Decision: client.Accept}
	v.show(client.Offered{Offer: waiting})
	v.show(client.Offered{Offer: running})
	v.show(client.Progress{Offer: 2, Bytes: 1})
	v.show(client.FileDone{Offer: 2, From: "alice", Report: client.FileReport{Path: "a", Status: client.Delivered, Stored: "a"}})
	v.show(client.Disconnected{Err: io.ErrUnexpectedEOF, Reconnecting: true})
	v.show(client.Withdrawn{Offer: waiting, Reason: "connection lost"})
	v.show(client.OfferDone{Offer: running, Received: 1, Left: 1, Cut: true})
	if len(v.offers) != 0 || len(v.downloads) != 0 {
		t.Errorf("after the loss: %d offers, %d lines; want none", len(v.offers), len(v.downloads))
	}
	u.mu.Lock()
	meters := len(u.meters)
	u.mu.Unlock()
	if meters != 0 {
		t.Errorf("%d progress lines left, want none", meters)
	}
	for _, want := range []string{
		"* connection lost (unexpected EOF); reconnecting",
		"* offer 1 from carol is gone with the connection",
		"* offer 2 from alice cut by the lost connection after 1 of 2 files",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	v.show(client.Progress{Offer: 2, Bytes: 1}) // a late byte from the old connection
	if len(v.downloads) != 0 {
		t.Error("a late byte of an offer that ended made a line")
	}
}

// TestViewShowsTheKeyOfWhoeverSendsADirectMessage: the first direct
// message from a name, and the first after its key changes, come with
// the key's fingerprint; the messages between do not repeat it.
func TestViewShowsTheKeyOfWhoeverSendsADirectMessage(t *testing.T) {
	v, _, out := textView(t)
	k1, k2 := client.NewIdentity(), client.NewIdentity()
	id1, id2 := hexKey(k1), hexKey(k2)
	for _, m := range []client.Message{
		{From: "alice", FromIdentity: id1, To: "bob", Text: "one"},
		{From: "alice", FromIdentity: id1, To: "bob", Text: "two"},
		{From: "alice", FromIdentity: id1, Text: "to everyone"},
		{From: "carol", FromIdentity: id2, To: "bob", Text: "three"},
	} {
		v.show(m)
	}
	got := out.String()
	want := "* alice's key: " + k1.Fingerprint() + "\n[private] <alice> one\n[private] <alice> two\n<alice> to everyone\n" +
		"* carol's key: " + k2.Fingerprint() + "\n[private] <carol> three\n"
	if got != want {
		t.Errorf("printed:\n%s\nwant:\n%s", got, want)
	}
}

func hexKey(id *client.Identity) string { return hex.EncodeToString(id.Public()) }
