package client

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/muxfer/muxfer/internal/fingerprint"
	"github.com/muxfer/muxfer/mux"
)

// Identity is the key pair a person is known by: an Ed25519 key, made once
// on their machine (IdentityFile) and never sent anywhere. Its public half
// is shown to people as a Fingerprint.
type Identity struct {
	key ed25519.PrivateKey
}

// NewIdentity makes a new random identity.
func NewIdentity() *Identity {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic("crypto/rand failed: " + err.Error()) // it does not, since Go 1.24
	}
	return &Identity{key: key}
}

// Public is the identity's public key.
func (id *Identity) Public() ed25519.PublicKey { return id.key.Public().(ed25519.PublicKey) }

// Fingerprint is the identity's public key in the form people compare.
func (id *Identity) Fingerprint() string { return Fingerprint(id.Public()) }

// Fingerprint writes a public key as people compare it: the first 120
// bits of its SHA-256 in lowercase base32, in six groups of four, such as
// "q3xk-7fmt-2bpa-wv4c-hn6d-e5ry".
func Fingerprint(pub ed25519.PublicKey) string { return fingerprint.Of(pub) }

// PeerFingerprint is the fingerprint of an identity as the hub lists it
// (Peer.Identity: the public key in hex), or "" if there is none or it is
// not a key.
func PeerFingerprint(identity string) string { return fingerprint.OfHex(identity) }

// pemType is the PEM block an identity file holds: the key in PKCS #8, as
// openssl writes an Ed25519 key.
const pemType = "PRIVATE KEY"

// marshal writes the identity as its file holds it.
func (id *Identity) marshal() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(id.key)
	if err != nil {
		panic(err) // an Ed25519 key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der})
}

// parseIdentity reads an identity file's contents.
func parseIdentity(b []byte) (*Identity, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != pemType {
		return nil, errors.New("not an identity: no PEM block of type " + pemType)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not an identity: %w", err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("not an identity: a %T, not an Ed25519 key", k)
	}
	return &Identity{key: key}, nil
}

// IdentityFile returns the identity kept in the file at path, first
// making one if there is none, as KeyFile does for keys (created says it
// was made now): mode 0600 in a folder of mode 0700, whole or not at all.
// A file that others may read is refused, as is one that holds no
// Ed25519 key.
func IdentityFile(path string) (id *Identity, created bool, err error) {
	b, created, err := secretFile(path, "identity file", func() []byte { return NewIdentity().marshal() })
	if err != nil {
		return nil, false, err
	}
	if id, err = parseIdentity(b); err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	return id, created, nil
}

// ReadIdentityFile reads the identity in the file at path, which must
// exist (IdentityFile makes one), refusing a file that others may read.
func ReadIdentityFile(path string) (*Identity, error) {
	b, err := readSecret(path, "identity file")
	if err != nil {
		return nil, err
	}
	id, err := parseIdentity(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return id, nil
}

// PrivateKey is the identity's private key, for a hub that uses it as
// its own (hub.Config.HubIdentity); nil for a nil Identity.
func (id *Identity) PrivateKey() ed25519.PrivateKey {
	if id == nil {
		return nil
	}
	return id.key
}

// Invitation lets one new member into a members-only hub: the hub's key,
// and a secret the hub takes once (see hub.NewInvitation).
type Invitation = mux.Invitation

// ParseInvitation reads an invitation as muxfer invite prints it
// ("mxi1." and 108 letters and digits).
func ParseInvitation(s string) (Invitation, error) { return mux.ParseInvitation(s) }
