package mux

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
)

// Key is a hub's access key: the shared secret that both ends prove they
// hold. It is 32 random bytes, written as "mxk1." and 52 base32 letters:
//
//	mxk1.7c5qgq3m2v4x3o6hxwaf5ktkp3mhe2zqdglqpjb2xshj5u6ed3ra
//
// The hub's TLS identity is derived from it, so anyone who connects sees a
// public key that a guess of the access key could be checked against
// offline. That is why ParseKey refuses anything shorter than 128 random
// bits, and why keys come from NewKey rather than from people.
type Key struct{ b []byte }

const keyPrefix = "mxk1."

// MinKeyBits is the least entropy an access key may have.
const MinKeyBits = 128

var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewKey returns a new random 256-bit key.
func NewKey() Key {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return Key{b}
}

// ParseKey reads a key in the form Text returns. Space around it is
// ignored, and so is letter case.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	body, ok := strings.CutPrefix(strings.ToLower(s), keyPrefix)
	if !ok {
		return Key{}, errors.New(`not a muxfer access key (they start with "mxk1."; make one with "muxfer keygen")`)
	}
	b, err := keyEncoding.DecodeString(strings.ToUpper(body))
	if err != nil {
		return Key{}, errors.New("access key is damaged: " + err.Error())
	}
	if len(b)*8 < MinKeyBits {
		return Key{}, fmt.Errorf("access key has %d bits, at least %d are needed", len(b)*8, MinKeyBits)
	}
	return Key{b}, nil
}

// Text returns the key's text form, the secret itself.
func (k Key) Text() string { return keyPrefix + strings.ToLower(keyEncoding.EncodeToString(k.b)) }

// String hides the key, so that printing a Config or a Key with %v never
// leaks it into a log. Use Text for the secret.
func (k Key) String() string {
	if k.IsZero() {
		return "(no key)"
	}
	return keyPrefix + "[redacted]"
}

// IsZero reports whether k holds no key.
func (k Key) IsZero() bool { return len(k.b) == 0 }

// derive returns n bytes for one purpose, by HKDF-SHA256.
func (k Key) derive(purpose string, n int) []byte {
	b, err := hkdf.Key(sha256.New, k.b, nil, "muxfer v1 "+purpose, n)
	if err != nil {
		panic(err) // only for n beyond 255*32
	}
	return b
}

// hubIdentity is the Ed25519 key of the hub's TLS certificate.
func (k Key) hubIdentity() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(k.derive("hub identity", ed25519.SeedSize))
}

// proofKey keys the HMAC by which a client proves it holds the key.
func (k Key) proofKey() []byte { return k.derive("client proof", 32) }
