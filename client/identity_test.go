package client_test

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/muxfer/muxfer/client"
)

// TestFingerprintIsShortReadableAndStable: six groups of four lowercase
// base32 letters, the same for the same key (pinned here, since people
// compare what different versions print), different for another key.
func TestFingerprintIsShortReadableAndStable(t *testing.T) {
	pub := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	got := client.Fingerprint(pub)
	if !regexp.MustCompile(`^[a-z2-7]{4}(-[a-z2-7]{4}){5}$`).MatchString(got) {
		t.Fatalf("fingerprint %q is not six groups of four", got)
	}
	// The zero seed's public key is 3b6a27bc…8b59da29; this is the first
	// 120 bits of its SHA-256 in base32, as Python's base64.b32encode
	// writes them, lowercased and grouped.
	if want := "copd-sqhg-jnkj-c4ra-rdm2-bv2b"; got != want {
		t.Errorf("fingerprint of the zero seed's key: %q, want %q", got, want)
	}
	if other := client.NewIdentity().Fingerprint(); other == got {
		t.Error("two keys have one fingerprint")
	}
}

// TestIdentityFileIsMadeOnceKeptPrivateAndRead: the first use makes the
// identity, later ones read the same; a file others can read, and one
// that holds no Ed25519 key, are refused with their path.
func TestIdentityFileIsMadeOnceKeptPrivateAndRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "muxfer", "identity")
	id, created, err := client.IdentityFile(path)
	if err != nil || !created {
		t.Fatalf("first use: %v, created %v", err, created)
	}
	again, created, err := client.IdentityFile(path)
	if err != nil || created || again.Fingerprint() != id.Fingerprint() || !again.Public().Equal(id.Public()) {
		t.Fatalf("second use: %v, created %v, %s; want %s", err, created, again.Fingerprint(), id.Fingerprint())
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("identity file mode %v, %v; want 0600", info.Mode(), err)
	}
	if b, _ := os.ReadFile(path); !strings.HasPrefix(string(b), "-----BEGIN PRIVATE KEY-----\n") {
		t.Errorf("identity file holds %q, want a PKCS #8 PEM block", b)
	}

	os.Chmod(path, 0o644)
	if _, _, err := client.IdentityFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("an identity others can read: %v, want a refusal saying chmod 600", err)
	}
	os.Chmod(path, 0o600)
	os.WriteFile(path, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
	if _, _, err := client.IdentityFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a broken identity file: %v, want an error naming it", err)
	}
}
