package mux

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Key is a hub's access key: the shared secret that both ends prove they
// hold. It is 32 random bytes, written as "mxk2.", their 52 base32 letters
// and 4 letters of checksum (the first 3 bytes of a SHA-256 of the key),
// 56 letters in all:
//
//	mxk2.aasuu34uxhpagkcnokl3zyigfnihlgv74qes4u3ytxboodbrkz5r6sb3
//
// The checksum tells a mistyped key (a letter left out, added or changed)
// from a key that is wrong: ParseKey refuses the first with
// ErrKeyMistyped, where the second would fail only at the hub, as
// authentication. Keys written "mxk1." and base32 letters, without a
// checksum, as muxfer wrote them before, are read too, and written back
// that way.
//
// The hub's TLS identity is derived from it, so anyone who connects sees a
// public key that a guess of the access key could be checked against
// offline. That is why ParseKey refuses anything shorter than 128 random
// bits, and why keys come from NewKey rather than from people.
type Key struct {
	b  []byte
	v1 bool // read in the "mxk1." form, which Text keeps
}

const (
	keyPrefix   = "mxk2."
	keyPrefixV1 = "mxk1." // no checksum
	keyBytes    = 32      // of a key NewKey makes, the only size "mxk2." takes
	checkBytes  = 3       // of checksum after them: 35 bytes are 56 letters exactly
)

// MinKeyBits is the least entropy an access key may have.
const MinKeyBits = 128

// ErrKeyMistyped is wrapped by ParseKey's error for an "mxk2." key whose
// checksum does not match its letters.
var ErrKeyMistyped = errors.New("the key is mistyped")

var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewKey returns a new random 256-bit key.
func NewKey() Key {
	b := make([]byte, keyBytes)
	rand.Read(b) // never fails (crypto/rand)
	return Key{b: b}
}

// ParseKey reads a key in the form Text returns. Space around it is
// ignored, and so is letter case.
func ParseKey(s string) (Key, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if body, ok := strings.CutPrefix(s, keyPrefix); ok {
		return parseChecked(body)
	}
	body, ok := strings.CutPrefix(s, keyPrefixV1)
	if !ok {
		return Key{}, errors.New(`not a muxfer access key (they start with "mxk2."; make one with "muxfer keygen")`)
	}
	b, err := keyEncoding.DecodeString(strings.ToUpper(body))
	if err != nil {
		return Key{}, errors.New("access key is damaged: " + err.Error())
	}
	if len(b)*8 < MinKeyBits {
		return Key{}, fmt.Errorf("access key has %d bits, at least %d are needed", len(b)*8, MinKeyBits)
	}
	return Key{b: b, v1: true}, nil
}

// parseChecked reads the letters of an "mxk2." key after its prefix.
func parseChecked(body string) (Key, error) {
	mistyped := func(why string) error {
		return fmt.Errorf("%w: its checksum does not match (%s)", ErrKeyMistyped, why)
	}
	if want := keyEncoding.EncodedLen(keyBytes + checkBytes); len(body) != want {
		return Key{}, mistyped(fmt.Sprintf("it has %d letters after %s, not %d", len(body), keyPrefix, want))
	}
	b, err := keyEncoding.DecodeString(strings.ToUpper(body))
	if err != nil {
		var at base32.CorruptInputError
		if errors.As(err, &at) && int(at) < len(body) {
			return Key{}, mistyped(fmt.Sprintf("%q is not one of its letters, a-z and 2-7", body[at]))
		}
		return Key{}, mistyped(err.Error())
	}
	if len(b) != keyBytes+checkBytes {
		// base32 skips line breaks: letters with some in their place
		// decode to fewer bytes.
		return Key{}, mistyped("it has a line break among its letters")
	}
	k := b[:keyBytes]
	if !bytes.Equal(b[keyBytes:], checksum(k)) {
		return Key{}, fmt.Errorf("%w: its checksum does not match", ErrKeyMistyped)
	}
	return Key{b: k}, nil
}

// checksum is what the "mxk2." form writes after the key's bytes.
func checksum(k []byte) []byte {
	sum := sha256.Sum256(append([]byte("muxfer key checksum\x00"), k...))
	return sum[:checkBytes]
}

// Text returns the key's text form, the secret itself: the "mxk2." form,
// or the "mxk1." form for a key that ParseKey read in it.
func (k Key) Text() string {
	if k.v1 {
		return keyPrefixV1 + strings.ToLower(keyEncoding.EncodeToString(k.b))
	}
	return keyPrefix + strings.ToLower(keyEncoding.EncodeToString(append(slices.Clip(k.b), checksum(k.b)...)))
}

// String hides the key, so that printing a Config or a Key with %v never
// leaks it into a log. Use Text for the secret.
func (k Key) String() string {
	switch {
	case k.IsZero():
		return "(no key)"
	case k.v1:
		return keyPrefixV1 + "[redacted]"
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

// HubIdentity is the public key of the TLS identity of a hub that holds
// the key: every client checks the hub's certificate against it.
func (k Key) HubIdentity() ed25519.PublicKey { return k.hubIdentity().Public().(ed25519.PublicKey) }

// proofKey keys the HMAC by which a client proves it holds the key.
func (k Key) proofKey() []byte { return k.derive("client proof", 32) }
