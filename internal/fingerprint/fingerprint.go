// Package fingerprint writes an identity's public key as people compare
// it: the first 120 bits of its SHA-256 in lowercase base32, in six groups
// of four, such as "copd-sqhg-jnkj-c4ra-rdm2-bv2b". 120 bits are far
// beyond what anyone could match by searching for a key.
package fingerprint

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strings"
)

// fingerprintBytes is how much of the key's SHA-256 a fingerprint shows.
const fingerprintBytes = 15

var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Of returns the fingerprint of the public key pub.
func Of(pub []byte) string {
	sum := sha256.Sum256(pub)
	s := encoding.EncodeToString(sum[:fingerprintBytes])
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// OfHex returns the fingerprint of an Ed25519 public key written in hex,
// as the protocol carries identities, or "" if s is not one.
func OfHex(s string) string {
	pub, err := hex.DecodeString(s)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return ""
	}
	return Of(pub)
}
