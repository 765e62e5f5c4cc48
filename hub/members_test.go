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
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// membersHub starts a members-only hub whose members file lists lines,
// and returns it, the file and the hub's identity.
func membersHub(t *testing.T, lines ...string) (*hubtest.Hub, string, *client.Identity) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "members")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	id := client.NewIdentity()
	return hubtest.Start(t, hub.Config{MembersFile: file, HubIdentity: id.PrivateKey()}), file, id
}

// dialMember connects to a members-only hub whose key is hubID's, as id.
func dialMember(t *testing.T, addr string, hubID, id *client.Identity, name string) (*client.Client, error) {
	t.Helper()
	return dialWith(t, addr, client.Config{Name: name, Identity: id, HubKey: hubID.Public()})
}

func memberLine(name string, id *client.Identity) string {
	return fmt.Sprintf("%s %s", name, hex.EncodeToString(id.Public()))
}

// TestMembersOnlyHub: the hub admits the identities its file lists, each
// under its name there whatever it asks for, refuses everyone else (with
// the access key or without) before anything else is said, and keeps
// names as the file gives them.
func TestMembersOnlyHub(t *testing.T) {
	alice, alice2, bob, mallory := client.NewIdentity(), client.NewIdentity(), client.NewIdentity(), client.NewIdentity()
	h, _, hubID := membersHub(t, "# the team", memberLine("alice", alice), "", memberLine("bob", bob)+"  bob's laptop",
		memberLine("Alice-2", alice2))

	a, err := dialMember(t, h.Addr, hubID, alice, "queen")
	wantName(t, a, err, "alice")
	a2, err := dialMember(t, h.Addr, hubID, alice, "alice") // not Alice-2, another member's name
	wantName(t, a2, err, "alice-3")
	b, err := dialMember(t, h.Addr, hubID, bob, "")
	wantName(t, b, err, "bob")

	if _, err := dialMember(t, h.Addr, hubID, mallory, "mallory"); !errors.Is(err, mux.ErrAuth) || !strings.Contains(err.Error(), "not a member of this hub") {
		t.Errorf("a stranger: %v, want refused as not a member", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := client.Dial(ctx, h.Addr, client.Config{Name: "keyholder", Identity: mallory, Mux: mux.Config{Key: h.Key}}); !errors.Is(err, mux.ErrAuth) {
		t.Errorf("the access key on a members-only hub: %v, want refused", err)
	}
	if _, err := dialMember(t, h.Addr, client.NewIdentity(), alice, "alice"); !errors.Is(err, mux.ErrAuth) || !strings.Contains(err.Error(), "not the one expected") {
		t.Errorf("a member expecting another hub key: %v", err)
	}
	if got, err := a.Rename(t.Context(), "alicia"); err == nil || got != "alice" || !strings.Contains(err.Error(), "members file") {
		t.Errorf("rename on a members-only hub: %q, %v", got, err)
	}
	other, err := dialMember(t, h.Addr, hubID, alice2, "")
	wantName(t, other, err, "Alice-2")
	if got := h.Clients(); len(got) != 4 || got[0].Identity != hex.EncodeToString(alice.Public()) {
		t.Errorf("the hub lists %+v", got)
	}
}

// TestMembersFileIsReloaded: a change to the file takes effect within a
// poll; a member taken out, or renamed, is disconnected and may not come
// back; one added may connect; a file that cannot be read changes nothing.
func TestMembersFileIsReloaded(t *testing.T) {
	alice, bob, carol := client.NewIdentity(), client.NewIdentity(), client.NewIdentity()
	h, file, hubID := membersHub(t, memberLine("alice", alice), memberLine("bob", bob))
	a, err := dialMember(t, h.Addr, hubID, alice, "")
	wantName(t, a, err, "alice")
	b, err := dialMember(t, h.Addr, hubID, bob, "")
	wantName(t, b, err, "bob")

	// A broken file: nothing changes.
	if err := os.WriteFile(file, []byte(memberLine("alice", alice)+"\nbob not-a-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.ReloadMembers(); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("reloading a broken file: %v", err)
	}
	if b.Err() != nil {
		t.Fatalf("bob was disconnected by a broken file: %v", b.Err())
	}

	// Bob out, carol in, alice renamed: the watcher sees it.
	if err := os.WriteFile(file, []byte(memberLine("alicia", alice)+"\n"+memberLine("carol", carol)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{a, b} {
		select {
		case <-c.Done():
		case <-time.After(wait):
			t.Fatalf("%s is still connected after the file changed", c.Name())
		}
		var pe *protocol.Error
		if !errors.As(c.Err(), &pe) || pe.Code != protocol.CodeNotMember {
			t.Errorf("%s was disconnected with %v, want code %s", c.Name(), c.Err(), protocol.CodeNotMember)
		}
	}
	if _, err := dialMember(t, h.Addr, hubID, bob, ""); !errors.Is(err, mux.ErrAuth) {
		t.Errorf("bob after his removal: %v, want refused", err)
	}
	a, err = dialMember(t, h.Addr, hubID, alice, "alice")
	wantName(t, a, err, "alicia")
	c, err := dialMember(t, h.Addr, hubID, carol, "")
	wantName(t, c, err, "carol")
}

// TestInvitationsWorkOnce: an invitation lets one identity in, under the
// name it was made for, and adds it to the members file; the same
// invitation again, an expired one or a forged one gets one clear reason,
// and nobody is added.
func TestInvitationsWorkOnce(t *testing.T) {
	alice, carol, mallory := client.NewIdentity(), client.NewIdentity(), client.NewIdentity()
	h, file, hubID := membersHub(t, memberLine("alice", alice))
	invite := func(name string, until time.Time) mux.Invitation {
		t.Helper()
		inv, err := hub.NewInvitation(file, hubID.Public(), name, until)
		if err != nil {
			t.Fatal(err)
		}
		return inv
	}
	join := func(id *client.Identity, inv mux.Invitation) (*client.Client, error) {
		t.Helper()
		code, err := client.ParseInvitation(inv.String())
		if err != nil {
			t.Fatal(err)
		}
		return dialWith(t, h.Addr, client.Config{Name: "x", Identity: id, HubKey: code.HubKey, Invitation: code.Secret})
	}

	if _, err := hub.NewInvitation(file, hubID.Public(), "Alice", time.Now().Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "alice is a member already") {
		t.Errorf("an invitation for a member's name: %v", err)
	}
	inv := invite("carol", time.Now().Add(time.Hour))
	c, err := join(carol, inv)
	wantName(t, c, err, "carol")
	if _, err := join(mallory, inv); err == nil || !strings.Contains(err.Error(), "this invitation was used already") {
		t.Errorf("the same invitation again: %v", err)
	}
	expired := invite("dave", time.Now().Add(-time.Minute))
	if _, err := join(mallory, expired); err == nil || !strings.Contains(err.Error(), "this invitation expired at") {
		t.Errorf("an expired invitation: %v", err)
	}
	forged := mux.NewInvitation(hubID.Public())
	if _, err := join(mallory, forged); err == nil || !strings.Contains(err.Error(), "no such invitation") {
		t.Errorf("a forged invitation: %v", err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), memberLine("carol", carol)) || strings.Contains(string(b), hex.EncodeToString(mallory.Public())) {
		t.Errorf("the members file after the invitations:\n%s", b)
	}
	// Carol is a member now: she comes back without the invitation.
	c.Close()
	waitUntil(t, "carol to leave", func() bool { return len(h.Clients()) == 0 })
	c, err = dialMember(t, h.Addr, hubID, carol, "")
	wantName(t, c, err, "carol")
	if _, err := mux.ParseInvitation(inv.String()[:40]); err == nil {
		t.Error("an invitation cut short was read")
	}
}

// TestMembersOnlyHubNeedsTLS: members prove who they are over TLS, so a
// members-only hub without it is refused as it starts.
func TestMembersOnlyHubNeedsTLS(t *testing.T) {
	file := filepath.Join(t.TempDir(), "members")
	os.WriteFile(file, nil, 0o600)
	_, err := hub.New(hub.Config{Dir: t.TempDir(), MembersFile: file, HubIdentity: client.NewIdentity().PrivateKey(), InsecureNoTLS: true})
	if err == nil || !strings.Contains(err.Error(), "needs TLS") {
		t.Errorf("hub.New: %v", err)
	}
}
