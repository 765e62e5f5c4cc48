package mux_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// handshake connects a client configured by cli to a hub configured by
// hub over loopback, and returns the identity the hub's session has, or
// the client's error and the hub's.
func handshake(t *testing.T, hub, cli mux.Config) (ed25519.PublicKey, error, error) {
	t.Helper()
	ln, got := acceptOne(t, hub)
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, _, cerr := mux.Client(ctx, conn, protocol.Hello{Name: "m"}, cli)
	a := <-got // before the client hangs up: the hub's Ready comes after its welcome
	if cerr == nil {
		s.Close()
	}
	if a.s == nil {
		return nil, cerr, a.err
	}
	defer a.s.Close()
	return a.s.Identity(), cerr, a.err
}

// TestMembersOnlyHubAdmitsItsMembersOnly: a members-only hub has its own
// key, which clients check, and admits the identities it lists, each
// proved before anything else is said; everyone else hears why not.
func TestMembersOnlyHubAdmitsItsMembersOnly(t *testing.T) {
	seed := func(b byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)) }
	hubKey, alice, mallory, otherHub := seed(1), seed(2), seed(3), seed(4)
	hub := mux.Config{HubIdentity: hubKey, Member: func(k ed25519.PublicKey, invitation []byte) error {
		if k.Equal(alice.Public()) || bytes.Equal(invitation, bytes.Repeat([]byte{7}, mux.InvitationLen)) {
			return nil
		}
		if len(invitation) > 0 {
			return errors.New("this invitation was used already")
		}
		return mux.ErrNotMember
	}}
	pub := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
	for _, tt := range []struct {
		name       string
		cli        mux.Config
		clientSays string // "" for admitted
		hubSays    string
	}{
		{"a member", mux.Config{HubKey: pub(hubKey), Identity: alice}, "", ""},
		{"a stranger", mux.Config{HubKey: pub(hubKey), Identity: mallory}, "the hub refused this identity: not a member of this hub", "not a member"},
		{"an invited stranger", mux.Config{HubKey: pub(hubKey), Identity: mallory, Invitation: bytes.Repeat([]byte{7}, mux.InvitationLen)}, "", ""},
		{"a spent invitation", mux.Config{HubKey: pub(hubKey), Identity: mallory, Invitation: bytes.Repeat([]byte{8}, mux.InvitationLen)}, "refused this identity: this invitation was used already", "used already"},
		{"a member expecting another hub", mux.Config{HubKey: pub(otherHub), Identity: alice}, "the hub's key is not the one expected", ""},
		{"an access key", mux.Config{Key: mux.NewKey(), Identity: alice}, "the hub does not hold this access key", ""},
		{"no identity", mux.Config{HubKey: pub(hubKey)}, "needs an identity", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, cerr, herr := handshake(t, hub, tt.cli)
			if tt.clientSays == "" {
				if cerr != nil || herr != nil || !id.Equal(pub(tt.cli.Identity)) {
					t.Fatalf("client %v, hub %v, identity %x; want it admitted", cerr, herr, id)
				}
				return
			}
			if cerr == nil || !strings.Contains(cerr.Error(), tt.clientSays) {
				t.Errorf("client: %v, want %q", cerr, tt.clientSays)
			}
			if herr == nil || !strings.Contains(herr.Error(), tt.hubSays) || tt.hubSays != "" && !errors.Is(herr, mux.ErrAuth) {
				t.Errorf("hub: %v, want %q", herr, tt.hubSays)
			}
		})
	}
}
