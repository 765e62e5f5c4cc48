package mux

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"
)

func TestInvitationRoundTripsAndRefusesTypos(t *testing.T) {
	inv := NewInvitation(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32)).Public().(ed25519.PublicKey))
	s := inv.String()
	if len(s) != 113 || !strings.HasPrefix(s, "mxi1.") {
		t.Fatalf("%q: want mxi1. and 108 characters", s)
	}
	got, err := ParseInvitation("  " + strings.ToUpper(s) + "\n")
	if err != nil || !got.HubKey.Equal(inv.HubKey) || !bytes.Equal(got.Secret, inv.Secret) {
		t.Fatalf("read back %+v, %v", got, err)
	}
	typo := "a" // one character changed: not the one already there
	if s[60] == 'a' {
		typo = "b"
	}
	for _, bad := range []string{s[:50], s[:60] + typo + s[61:], "mxk2." + s[5:], s[:30] + "\n" + s[31:], s + "a"} {
		if _, err := ParseInvitation(bad); err == nil || !strings.Contains(err.Error(), "not an invitation") {
			t.Errorf("ParseInvitation(%q): %v", bad, err)
		}
	}
}

// FuzzParseInvitation reads anything: refused, or an invitation that
// writes and reads back the same.
func FuzzParseInvitation(f *testing.F) {
	f.Add(NewInvitation(make([]byte, 32)).String())
	f.Add("mxi1.")
	f.Add("mxi1.aaaa\n\n\naaaa")
	f.Fuzz(func(t *testing.T, s string) {
		inv, err := ParseInvitation(s)
		if err != nil {
			return
		}
		again, err := ParseInvitation(inv.String())
		if err != nil || !again.HubKey.Equal(inv.HubKey) || !bytes.Equal(again.Secret, inv.Secret) || len(inv.Secret) != InvitationLen {
			t.Fatalf("%q read as %+v, which reads back as %+v, %v", s, inv, again, err)
		}
	})
}
