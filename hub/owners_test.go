package hub_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
)

// dialAs connects a client asking for name with identity id (nil for
// none), and returns it or the hub's refusal.
func dialAs(t *testing.T, addr, name string, id *client.Identity) (*client.Client, error) {
	return dialWith(t, addr, client.Config{Name: name, Identity: id})
}

// dialWith connects a client configured by cfg, and returns it or the
// hub's refusal.
func dialWith(t *testing.T, addr string, cfg client.Config) (*client.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cfg.Mux = hubtest.ClientConfig(addr)
	c, err := client.Dial(ctx, addr, cfg)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// wantName checks that dialAs succeeded with name.
func wantName(t *testing.T, c *client.Client, err error, name string) {
	t.Helper()
	if err != nil {
		t.Fatalf("refused: %v, want the name %s", err, name)
	}
	if c.Name() != name {
		t.Fatalf("got the name %q, want %q", c.Name(), name)
	}
}

// wantRefused checks that dialAs was refused with code, saying text.
func wantRefused(t *testing.T, c *client.Client, err error, code, text string) {
	t.Helper()
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		name := ""
		if c != nil {
			name = c.Name()
		}
		t.Fatalf("got %q, %v; want a refusal of code %s", name, err, code)
	}
	if pe.Code != code || !strings.Contains(pe.Text, text) {
		t.Fatalf("refused with %s %q, want %s saying %q", pe.Code, pe.Text, code, text)
	}
}

// TestNamesBelongToIdentities: the first identity given a name owns it,
// online or not, and across a restart of the hub; other identities, and
// clients without one, are refused it and its look-alikes.
func TestNamesBelongToIdentities(t *testing.T) {
	dir := t.TempDir()
	alice, mallory := client.NewIdentity(), client.NewIdentity()
	h := hubtest.Start(t, hub.Config{Dir: dir})

	a, err := dialAs(t, h.Addr, "alice", alice)
	wantName(t, a, err, "alice")
	if got := h.Clients(); len(got) != 1 || got[0].Identity != hex.EncodeToString(alice.Public()) {
		t.Fatalf("the hub lists %+v, want alice with her key", got)
	}

	const owned = `the name "alice" belongs to another key`
	for _, tt := range []struct {
		name string
		ask  string
		id   *client.Identity
		text string
	}{
		{"another identity while she is online", "alice", mallory, owned},
		{"a client without an identity", "alice", nil, owned},
		{"in other case", "ALICE", mallory, `the name "ALICE" belongs to another key`},
		{"with a Cyrillic a", "аlice", mallory, `looks like "alice", which belongs to another key`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := dialAs(t, h.Addr, tt.ask, tt.id)
			wantRefused(t, c, err, protocol.CodeNameOwned, tt.text)
		})
	}

	a.Close()
	c, err := dialAs(t, h.Addr, "alice", mallory)
	wantRefused(t, c, err, protocol.CodeNameOwned, owned)

	// A rename asks the same.
	m, err := dialAs(t, h.Addr, "mallory", mallory)
	wantName(t, m, err, "mallory")
	if got, err := m.Rename(t.Context(), "alice"); err == nil || got != "mallory" || !strings.Contains(err.Error(), owned) {
		t.Errorf("mallory's rename to alice gave %q, %v; want refused: %s", got, err, owned)
	}

	// The hub remembers across a restart, and alice is herself still.
	m.Close()
	h.Close()
	h = hubtest.Start(t, hub.Config{Dir: dir})
	c, err = dialAs(t, h.Addr, "alice", mallory)
	wantRefused(t, c, err, protocol.CodeNameOwned, owned)
	c, err = dialAs(t, h.Addr, "mallory", nil)
	wantRefused(t, c, err, protocol.CodeNameOwned, `the name "mallory" belongs to another key`)
	a, err = dialAs(t, h.Addr, "Alice", alice)
	wantName(t, a, err, "Alice")
}

// TestNamesOfClientsWithoutIdentity: a name nobody owns is anyone's while
// it is free, as before identities; an identity that asks for one a
// client without an identity is using gets a numbered name, and owns that.
func TestNamesOfClientsWithoutIdentity(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	anon, err := dialAs(t, h.Addr, "carol", nil)
	wantName(t, anon, err, "carol")
	carol := client.NewIdentity()
	c, err := dialAs(t, h.Addr, "carol", carol)
	wantName(t, c, err, "carol-2")
	c.Close()
	waitUntil(t, "carol-2 to leave", func() bool { return len(h.Clients()) == 1 })
	other, err := dialAs(t, h.Addr, "carol-2", nil)
	wantRefused(t, other, err, protocol.CodeNameOwned, `the name "carol-2" belongs to another key`)
	anon.Close()
	waitUntil(t, "carol to leave", func() bool { return len(h.Clients()) == 0 })
	c, err = dialAs(t, h.Addr, "carol", carol) // now free, and hers from now on
	wantName(t, c, err, "carol")
	c.Close()
	other, err = dialAs(t, h.Addr, "carol", nil)
	wantRefused(t, other, err, protocol.CodeNameOwned, `the name "carol" belongs to another key`)
}

// TestDefaultNamesAreNumbered: a name the program chose (a login name)
// that another identity owns is numbered instead of refused, and the
// identity gets the same numbered name the next time.
func TestDefaultNamesAreNumbered(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	first, second := client.NewIdentity(), client.NewIdentity()
	for _, tt := range []struct {
		id   *client.Identity
		want string
	}{
		{first, "root"},
		{second, "root-2"},
		{second, "root-2"}, // its own now
		{nil, "root-3"},
		{first, "root"},
	} {
		c, err := dialWith(t, h.Addr, client.Config{Name: "root", DefaultName: true, Identity: tt.id})
		wantName(t, c, err, tt.want)
		c.Close()
		waitUntil(t, tt.want+" to leave", func() bool { return len(h.Clients()) == 0 })
	}
}

// TestOwnedNamesAreBounded: an identity may own NamesPerIdentity names,
// and the hub MaxOwnedNames in all.
func TestOwnedNamesAreBounded(t *testing.T) {
	h := hubtest.Start(t, hub.Config{MaxOwnedNames: hub.NamesPerIdentity + 1})
	hoarder := client.NewIdentity()
	c, err := dialAs(t, h.Addr, "n0", hoarder)
	wantName(t, c, err, "n0")
	for i := 1; i < hub.NamesPerIdentity; i++ {
		if _, err := c.Rename(t.Context(), fmt.Sprint("n", i)); err != nil {
			t.Fatalf("rename %d: %v", i, err)
		}
	}
	if _, err := c.Rename(t.Context(), "one-more"); err == nil || !strings.Contains(err.Error(), "owns 16 names") {
		t.Errorf("rename past the bound: %v, want refused", err)
	}
	if _, err := c.Rename(t.Context(), "n3"); err != nil {
		t.Errorf("rename back to a name it owns: %v", err)
	}
	c1, err := dialAs(t, h.Addr, "last", client.NewIdentity())
	wantName(t, c1, err, "last")
	c2, err := dialAs(t, h.Addr, "too-many", client.NewIdentity())
	wantRefused(t, c2, err, protocol.CodeLimit, "all the names it may keep (17)")
	c3, err := dialAs(t, h.Addr, "anyone", nil)
	wantName(t, c3, err, "anyone")
}

// TestOwnersFileSurvivesATornLine: a line cut by a crash, and a line
// that is not an owner's, are skipped; the rest still hold, and new
// owners are written on lines of their own.
func TestOwnersFileSurvivesATornLine(t *testing.T) {
	dir := t.TempDir()
	alice, bob := client.NewIdentity(), client.NewIdentity()
	lines := hex.EncodeToString(alice.Public()) + " alice\n" +
		"not a key\n" +
		hex.EncodeToString(bob.Public())[:20] // torn
	if err := os.WriteFile(filepath.Join(dir, hub.OwnersFile), []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	h := hubtest.Start(t, hub.Config{Dir: dir})
	c, err := dialAs(t, h.Addr, "alice", bob)
	wantRefused(t, c, err, protocol.CodeNameOwned, `the name "alice" belongs to another key`)
	b, err := dialAs(t, h.Addr, "bob", bob)
	wantName(t, b, err, "bob")
	b.Close()
	h.Close()
	got, err := os.ReadFile(filepath.Join(dir, hub.OwnersFile))
	if err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(alice.Public()) + " alice\nnot a key\n" + hex.EncodeToString(bob.Public()) + " bob\n"
	if string(got) != want {
		t.Errorf("owners file holds\n%s\nwant\n%s", got, want)
	}
}
