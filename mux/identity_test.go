package mux

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/muxfer/muxfer/protocol"
)

// TestIdentityProofBindsTheConnection checks the hub's side of the proof:
// a proof verifies only for its own key and the binding it was made over.
func TestIdentityProofBindsTheConnection(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	here, there := bytes.Repeat([]byte{0xaa}, bindingLen), bytes.Repeat([]byte{0xbb}, bindingLen)
	var proved protocol.Hello
	proveIdentity(&proved, key, here)
	var otherKey protocol.Hello
	proveIdentity(&otherKey, other, here)
	for _, tt := range []struct {
		name    string
		hello   protocol.Hello
		binding []byte
		want    ed25519.PublicKey // nil with wantErr: refused
		wantErr string
	}{
		{"no identity", protocol.Hello{Name: "a"}, here, nil, ""},
		{"a proof over this connection", proved, here, key.Public().(ed25519.PublicKey), ""},
		{"a proof from another connection", proved, there, nil, "does not verify"},
		{"another key's proof", protocol.Hello{Identity: proved.Identity, Proof: otherKey.Proof}, here, nil, "does not verify"},
		{"a key without a proof", protocol.Hello{Identity: proved.Identity}, here, nil, "does not verify"},
		{"a proof without a key", protocol.Hello{Proof: proved.Proof}, here, nil, "not an Ed25519 public key"},
		{"a key too short", protocol.Hello{Identity: proved.Identity[:62], Proof: proved.Proof}, here, nil, "not an Ed25519 public key"},
		{"a key not in hex", protocol.Hello{Identity: strings.ToUpper(proved.Identity[:63]) + "g", Proof: proved.Proof}, here, nil, "not an Ed25519 public key"},
		{"a proof cut short", protocol.Hello{Identity: proved.Identity, Proof: proved.Proof[:126]}, here, nil, "does not verify"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkIdentity(tt.hello, tt.binding)
			if tt.wantErr == "" {
				if err != nil || !got.Equal(tt.want) {
					t.Fatalf("got %x, %v; want %x", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, ErrIdentity) || !strings.Contains(err.Error(), tt.wantErr) || got != nil {
				t.Fatalf("got %x, %v; want ErrIdentity saying %q", got, err, tt.wantErr)
			}
		})
	}
}

// TestIdentityProofVector pins the proof of the protocol's README: the key
// of RFC 8032's first test vector, over a connection without TLS.
func TestIdentityProofVector(t *testing.T) {
	seed, _ := hex.DecodeString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	var h protocol.Hello
	proveIdentity(&h, ed25519.NewKeyFromSeed(seed), make([]byte, bindingLen))
	const (
		identity = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
		proof    = "4fe40fcab6b5d0427bc76f3e91294b7b135482f50ed16023c3f8bc94f4e38af748da997a71f73e442d8f3b64adf2da7e1535e2976e4702550f49c155f832cd0c"
	)
	if h.Identity != identity || h.Proof != proof {
		t.Errorf("identity %s\nproof %s\nwant %s\nand %s", h.Identity, h.Proof, identity, proof)
	}
}

// FuzzCheckIdentity feeds the hub's check any identity and proof: it
// never panics, and accepts only a proof that verifies.
func FuzzCheckIdentity(f *testing.F) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	var h protocol.Hello
	proveIdentity(&h, key, make([]byte, bindingLen))
	f.Add(h.Identity, h.Proof)
	f.Add("", "")
	f.Add(h.Identity, "")
	f.Add("zz", h.Proof)
	f.Fuzz(func(t *testing.T, identity, proof string) {
		pub, err := checkIdentity(protocol.Hello{Identity: identity, Proof: proof}, make([]byte, bindingLen))
		if err != nil && pub != nil || err != nil && !errors.Is(err, ErrIdentity) {
			t.Fatalf("%q %q: %x, %v", identity, proof, pub, err)
		}
		if pub != nil {
			sig, _ := hex.DecodeString(proof)
			if !ed25519.Verify(pub, proofMessage(make([]byte, bindingLen)), sig) {
				t.Fatalf("accepted a proof that does not verify: %q %q", identity, proof)
			}
		}
	})
}
