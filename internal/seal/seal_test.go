package seal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
)

func sealed(t testing.TB, key *Key, id ID, index uint32, plain []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	n, sum, err := Seal(&b, key, id, index, bytes.NewReader(plain))
	if err != nil || n != int64(len(plain)) {
		t.Fatalf("Seal: %d bytes, %v", n, err)
	}
	if want := sha256Of(plain); sum != want {
		t.Fatalf("Seal's SHA-256 %x, want %x", sum, want)
	}
	return b.Bytes()
}

func open(key *Key, id ID, index uint32, b []byte) ([]byte, error) {
	r, err := NewReader(key, id, index, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestSealOpensWhatItSealedAtEverySize(t *testing.T) {
	id, key := NewTransfer()
	for _, n := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3 * ChunkSize, 3*ChunkSize + 17} {
		plain := make([]byte, n)
		rand.Read(plain)
		b := sealed(t, key, id, 7, plain)
		if int64(len(b)) != SealedSize(int64(n)) {
			t.Errorf("%d bytes sealed to %d, SealedSize says %d", n, len(b), SealedSize(int64(n)))
		}
		if p, err := PlainSize(int64(len(b))); err != nil || p != int64(n) {
			t.Errorf("PlainSize(%d) = %d, %v; want %d", len(b), p, err, n)
		}
		got, err := open(key, id, 7, b)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%d bytes: opened %d bytes, %v", n, len(got), err)
		}
	}
}

func TestOpenRefusesWhatWasChanged(t *testing.T) {
	id, key := NewTransfer()
	plain := make([]byte, 3*ChunkSize+100)
	rand.Read(plain)
	b := sealed(t, key, id, 2, plain)
	full := ChunkSize + Overhead
	other, otherKey := NewTransfer()
	swapped := append([]byte(nil), b...)
	copy(swapped[:full], b[full:2*full])
	copy(swapped[full:2*full], b[:full])
	flipped := append([]byte(nil), b...)
	flipped[full+5] ^= 1
	for _, tt := range []struct {
		name  string
		key   *Key
		id    ID
		index uint32
		b     []byte
	}{
		{"a flipped bit", key, id, 2, flipped},
		{"two chunks swapped", key, id, 2, swapped},
		{"cut after a whole chunk", key, id, 2, b[:2*full]},
		{"cut inside a chunk", key, id, 2, b[:2*full+10]},
		{"a chunk added", key, id, 2, append(append([]byte(nil), b...), b[:full]...)},
		{"a byte added", key, id, 2, append(append([]byte(nil), b...), 0)},
		{"nothing", key, id, 2, nil},
		{"another stream", key, id, 3, b},
		{"another transfer", key, other, 2, b},
		{"another key", otherKey, id, 2, b},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := open(tt.key, tt.id, tt.index, tt.b); !errors.Is(err, ErrOpen) {
				t.Errorf("Open: %v, want ErrOpen", err)
			}
		})
	}
}

func TestWrapOpensForEachRecipientOnly(t *testing.T) {
	_, key := NewTransfer()
	bobPub, bob, _ := ed25519.GenerateKey(nil)
	carolPub, carol, _ := ed25519.GenerateKey(nil)
	_, mallory, _ := ed25519.GenerateKey(nil)
	b, err := Wrap(key, []ed25519.PublicKey{bobPub, carolPub})
	if err != nil {
		t.Fatal(err)
	}
	for _, me := range []ed25519.PrivateKey{bob, carol} {
		if got, err := Unwrap(b, me); err != nil || *got != *key {
			t.Errorf("Unwrap: %v", err)
		}
	}
	if _, err := Unwrap(b, mallory); err == nil {
		t.Error("Unwrap with another identity worked")
	}
}

func TestVerifyTakesOnlyTheSendersSignature(t *testing.T) {
	id, _ := NewTransfer()
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, other, _ := ed25519.GenerateKey(nil)
	m := Manifest{Version: 1, ID: hex.EncodeToString(id[:]), From: "alice", FromIdentity: hex.EncodeToString(pub),
		To: []Person{{Name: "carol", Identity: hex.EncodeToString(otherPub)}}, Created: 1700000000,
		Files: []File{{Path: "a.txt", Size: 5, Mode: 0o644, MTime: 1, SHA256: "x"}}}
	b, err := Sign(m, priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(b, id)
	if err != nil || got.Files[0].Path != "a.txt" || got.From != "alice" {
		t.Fatalf("Verify: %+v, %v", got, err)
	}
	if _, err := Sign(m, other); err == nil {
		t.Error("Sign with a key that is not the manifest's sender worked")
	}
	forged := m
	forged.FromIdentity = hex.EncodeToString(otherPub)
	fb, _ := Sign(forged, other)
	for _, tt := range []struct {
		name string
		b    []byte
		id   ID
	}{
		{"a name changed", bytes.Replace(b, []byte("a.txt"), []byte("b.txt"), 1), id},
		{"another transfer's id", b, ID{1}},
		{"signed by another who claims to be the sender", bytes.Replace(fb, []byte(hex.EncodeToString(otherPub)), []byte(hex.EncodeToString(pub)), 1), id},
		{"not JSON", []byte("{"), id},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Verify(tt.b, tt.id); err == nil {
				t.Error("Verify took it")
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	id, key := NewTransfer()
	var seed bytes.Buffer
	Seal(&seed, key, id, 0, bytes.NewReader([]byte("hello")))
	f.Add(seed.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _ := NewReader(key, id, 0, bytes.NewReader(b))
		got, err := io.ReadAll(io.LimitReader(r, 1<<20))
		if err == nil && !bytes.Equal(b, seed.Bytes()) {
			t.Fatalf("opened %q from bytes that are not the seal of anything", got)
		}
	})
}

func FuzzVerify(f *testing.F) {
	id, _ := NewTransfer()
	pub, priv, _ := ed25519.GenerateKey(nil)
	b, _ := Sign(Manifest{Version: 1, ID: hex.EncodeToString(id[:]), FromIdentity: hex.EncodeToString(pub)}, priv)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) { Verify(b, id) })
}

func FuzzUnwrap(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, key := NewTransfer()
	b, _ := Wrap(key, []ed25519.PublicKey{pub})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) { Unwrap(b, priv) })
}

func sha256Of(b []byte) [32]byte { return sha256.Sum256(b) }
