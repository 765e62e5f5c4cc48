package mux

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"
)

// An Invitation lets one new member into a members-only hub: it carries
// the hub's public key, which the new member checks the hub against, and
// a secret the hub made for them, which it takes once (hub.NewInvitation).
// It is written
//
//	mxi1.<base32 of the hub's key (32 bytes), the secret (32) and a checksum (3)>
//
// in lower-case unpadded base32 (RFC 4648): 5 + 108 characters. The
// checksum is the first 3 bytes of SHA-256 over "muxfer invitation
// checksum", a zero byte, the key and the secret: a mistyped invitation
// is refused as mistyped before anything is sent.
type Invitation struct {
	HubKey ed25519.PublicKey
	Secret []byte // InvitationLen bytes
}

const invitationPrefix = "mxi1."

var invitationEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewInvitation makes an invitation to the hub whose key is hubKey, with a
// new random secret.
func NewInvitation(hubKey ed25519.PublicKey) Invitation {
	secret := make([]byte, InvitationLen)
	rand.Read(secret)
	return Invitation{HubKey: hubKey, Secret: secret}
}

func (inv Invitation) String() string {
	b := append(append([]byte{}, inv.HubKey...), inv.Secret...)
	return invitationPrefix + invitationEncoding.EncodeToString(append(b, invitationChecksum(b)...))
}

// ParseInvitation reads an invitation as String writes it.
func ParseInvitation(s string) (Invitation, error) {
	body, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), invitationPrefix)
	if !ok {
		return Invitation{}, errors.New("not an invitation: one starts with " + invitationPrefix + " and 108 letters and digits")
	}
	b, err := invitationEncoding.DecodeString(body)
	n := ed25519.PublicKeySize + InvitationLen
	if err != nil || len(b) != n+3 || string(invitationChecksum(b[:n])) != string(b[n:]) {
		return Invitation{}, errors.New("not an invitation: mistyped or cut short (its checksum does not match)")
	}
	return Invitation{HubKey: ed25519.PublicKey(b[:ed25519.PublicKeySize]), Secret: b[ed25519.PublicKeySize:n]}, nil
}

func invitationChecksum(b []byte) []byte {
	sum := sha256.Sum256(append([]byte("muxfer invitation checksum\x00"), b...))
	return sum[:3]
}
