package client_test

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
)

func hexOf(id *client.Identity) string { return hex.EncodeToString(id.Public()) }

// TestKnownPeersFileKeepsPins: pins survive reopening, a pin is not
// replaced by Pin, Forget drops a name on every hub, and the file is the
// user's alone.
func TestKnownPeersFileKeepsPins(t *testing.T) {
	path := filepath.Join(t.TempDir(), "muxfer", "known_peers")
	bob, bob2, carol := hexOf(client.NewIdentity()), hexOf(client.NewIdentity()), hexOf(client.NewIdentity())
	k, err := client.OpenKnownPeers(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ hub, name, id string }{{"h1", "Bob", bob}, {"h2", "bob", bob}, {"h1", "carol", carol}, {"h1", "bob", bob2}} {
		if err := k.Pin(p.hub, p.name, p.id); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Pin("h1", "dave", "not a key"); err == nil {
		t.Error("pinned something that is not a key")
	}
	// A hostile hub's "name" that would write a pin of its own, or hold a
	// terminal control.
	for _, name := range []string{"x " + bob + "\nh2 bob", "a b", "ev\x1b[2Jil", ""} {
		if err := k.Pin("h1", name, carol); err == nil {
			t.Errorf("pinned the name %q", name)
		}
	}
	again, err := client.OpenKnownPeers(path)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := again.Lookup("h1", "BOB"); !ok || id != bob {
		t.Errorf("bob on h1 after reopening: %q, %v; want the first pin", id, ok)
	}
	if got := again.List(); len(got) != 3 || got[0].Name != "bob" || got[2].Name != "carol" {
		t.Errorf("List: %+v", got)
	}
	if n, err := again.Forget("bob"); n != 2 || err != nil {
		t.Errorf("Forget bob: %d, %v; want both hubs' pins", n, err)
	}
	if _, ok := k.Lookup("h1", "bob"); !ok {
		t.Error("the first KnownPeers lost its pin before it read the file again")
	}
	if err := k.Pin("h3", "erin", carol); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.Lookup("h1", "bob"); ok {
		t.Error("a write kept a pin that another program had dropped")
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the file: %v, %v; want mode 0600", info, err)
	}
	os.WriteFile(path, []byte("h1 bob\n"), 0o600)
	if _, err := client.OpenKnownPeers(path); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a broken file: %v", err)
	}
}

// TestSessionStopsWhatGoesToOrComesFromAChangedKey: alice pins bob's key
// when she sends him a file; behind a hub that has forgotten who owns
// "bob" (a new folder, the same access key), someone else as bob gets
// nothing from her: not a send, not a direct message, and his offer and
// his direct message to her are stopped unseen.
func TestSessionStopsWhatGoesToOrComesFromAChangedKey(t *testing.T) {
	key := mux.NewKey()
	pins, err := client.OpenKnownPeers("")
	if err != nil {
		t.Fatal(err)
	}
	aliceID, bobID, otherID := client.NewIdentity(), client.NewIdentity(), client.NewIdentity()
	file := filepath.Join(t.TempDir(), "note.txt")
	os.WriteFile(file, []byte("for bob\n"), 0o644)
	files, _, err := client.Paths(file)
	if err != nil {
		t.Fatal(err)
	}
	accept := func(client.Offer) client.Decision { return client.Accept }

	h1 := hubtest.Start(t, hub.Config{Mux: mux.Config{Key: key}})
	bob := connect(t, h1.Addr, client.SessionConfig{Name: "bob", Identity: bobID, Dir: t.TempDir(), Decide: accept})
	alice := connect(t, h1.Addr, client.SessionConfig{Name: "alice", Identity: aliceID, KnownPeers: pins})
	if _, err := alice.Send(t.Context(), files, client.SendOptions{To: "bob"}); err != nil {
		t.Fatal(err)
	}
	hubID := client.HubID(h1.Addr, mux.Config{Key: key})
	if id, ok := pins.Lookup(hubID, "bob"); !ok || id != hexOf(bobID) {
		t.Fatalf("after the send, bob is pinned as %q, %v", id, ok)
	}
	bob.Close()
	alice.Close()
	h1.Close()

	h2 := hubtest.Start(t, hub.Config{Mux: mux.Config{Key: key}})
	inbox := t.TempDir()
	impostor := connect(t, h2.Addr, client.SessionConfig{Name: "bob", Identity: otherID, Dir: inbox, Decide: accept})
	impostorEvents := impostor.Events()
	alice = connect(t, h2.Addr, client.SessionConfig{Name: "alice", Identity: aliceID, KnownPeers: pins,
		Dir: t.TempDir(), Decide: accept})
	aliceEvents := alice.Events()

	_, err = alice.Send(t.Context(), files, client.SendOptions{To: "bob"})
	var changed *client.KeyChangedError
	if !errors.As(err, &changed) || changed.Name != "bob" || changed.Pinned != hexOf(bobID) || changed.Now != hexOf(otherID) {
		t.Fatalf("send to the other bob: %v, want a KeyChangedError", err)
	}
	for _, fp := range []string{bobID.Fingerprint(), otherID.Fingerprint()} {
		if !strings.Contains(err.Error(), fp) {
			t.Errorf("%q does not show %s", err, fp)
		}
	}

	if err := alice.Message("bob", "the password is swordfish"); !errors.As(err, &changed) || changed.Now != hexOf(otherID) {
		t.Fatalf("direct message to the other bob: %v, want a KeyChangedError", err)
	}
	if kc := next[client.KeyChanged](t, aliceEvents); kc.What != client.DirectMessageTo || kc.Err.Now != hexOf(otherID) {
		t.Errorf("alice's direct message to the other bob: %+v", kc)
	}
	if err := impostor.Message("alice", "it is me, bob"); err != nil {
		t.Fatal(err)
	}
	if kc := next[client.KeyChanged](t, aliceEvents); kc.What != client.DirectMessageFrom || kc.Err.Name != "bob" {
		t.Errorf("the other bob's direct message: %+v", kc)
	}
	_, err = impostor.Send(t.Context(), files, client.SendOptions{To: "alice"})
	if err == nil || !strings.Contains(err.Error(), "knows another key for the name bob") {
		t.Errorf("the other bob's send to alice: %v, want declined", err)
	}
	if kc := next[client.KeyChanged](t, aliceEvents); kc.What != client.OfferFrom {
		t.Errorf("the other bob's offer: %+v", kc)
	}

	// The hub refused alice's message as it told her so: it cannot be
	// on its way to the other bob still.
	impostor.Close()
	for ev := range impostorEvents {
		if m, ok := ev.(client.Message); ok {
			t.Errorf("the other bob heard %+v", m)
		}
	}
	if entries, _ := os.ReadDir(inbox); len(entries) > 0 {
		t.Errorf("the other bob received %v", entries)
	}
	if _, ok := pins.Lookup(hubID, "bob"); !ok {
		t.Error("bob's pin is gone")
	}
}

// TestSessionPinsOnFirstContact: without a pin, a direct message pins its
// sender's key (a send pins the recipient's: see above).
func TestSessionPinsOnFirstContact(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	pins, _ := client.OpenKnownPeers("")
	carolID := client.NewIdentity()
	carol := connect(t, h.Addr, client.SessionConfig{Name: "carol", Identity: carolID})
	dave := connect(t, h.Addr, client.SessionConfig{Name: "dave", Identity: client.NewIdentity(), KnownPeers: pins})
	daveEvents := dave.Events()
	if err := carol.Message("dave", "hello"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, daveEvents); m.From != "carol" || m.FromIdentity != hexOf(carolID) {
		t.Fatalf("dave heard %+v", m)
	}
	hubID := client.HubID(h.Addr, hubtest.ClientConfig(h.Addr))
	if id, _ := pins.Lookup(hubID, "carol"); id != hexOf(carolID) {
		t.Errorf("carol pinned as %q after her message", id)
	}
}
