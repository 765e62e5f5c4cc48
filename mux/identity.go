package mux

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net"

	"github.com/muxfer/muxfer/protocol"
)

// A client may prove an identity to the hub: an Ed25519 key of its own,
// apart from the access key that every member of the hub shares. Its
// hello carries the public key and a signature over
//
//	"muxfer identity proof v1" 0x00 binding
//
// where binding is 32 bytes of the TLS session's keying material
// (RFC 8446 section 7.5, label identityLabel, no context): each TLS
// session has its own, so a proof seen on one connection proves nothing on
// another, and a hub cannot replay a client's proof to another hub.
// Without TLS the binding is 32 zero bytes and a proof can be replayed by
// anyone who sees it: the link has no security to bind to.

const (
	identityLabel   = "EXPORTER-muxfer v1 identity proof"
	identityContext = "muxfer identity proof v1\x00"
	bindingLen      = 32
)

// ErrIdentity reports a hello whose identity or proof is wrong.
var ErrIdentity = errors.New("identity proof failed")

// binding returns the bytes an identity proof on the connection nc (as
// open returns it) signs.
func binding(nc net.Conn) ([]byte, error) {
	if gc, ok := nc.(*groupConn); ok {
		nc = gc.Conn
	}
	bt, ok := nc.(*batchedTLS)
	if !ok {
		return make([]byte, bindingLen), nil // no TLS
	}
	cs := bt.ConnectionState()
	return cs.ExportKeyingMaterial(identityLabel, nil, bindingLen)
}

// peerOf returns the identity the other end of nc proved in its TLS: a
// member's on a members-only hub, a peer's on an end-to-end session; nil
// for none.
func peerOf(nc net.Conn) ed25519.PublicKey {
	if gc, ok := nc.(*groupConn); ok {
		nc = gc.Conn
	}
	if bt, ok := nc.(*batchedTLS); ok {
		return bt.peer
	}
	return nil
}

// proveIdentity fills hello's Identity and Proof for key over binding b.
func proveIdentity(hello *protocol.Hello, key ed25519.PrivateKey, b []byte) {
	hello.Identity = hex.EncodeToString(key.Public().(ed25519.PublicKey))
	hello.Proof = hex.EncodeToString(ed25519.Sign(key, proofMessage(b)))
}

// checkIdentity returns the identity hello proves over binding b: nil if
// it carries none, or ErrIdentity if the key or the proof is wrong.
func checkIdentity(hello protocol.Hello, b []byte) (ed25519.PublicKey, error) {
	if hello.Identity == "" && hello.Proof == "" {
		return nil, nil
	}
	pub, err := hex.DecodeString(hello.Identity)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: the identity is not an Ed25519 public key in hex", ErrIdentity)
	}
	sig, err := hex.DecodeString(hello.Proof)
	if err != nil || len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, proofMessage(b), sig) {
		return nil, fmt.Errorf("%w: the proof does not verify for this identity and connection", ErrIdentity)
	}
	return pub, nil
}

func proofMessage(b []byte) []byte { return append([]byte(identityContext), b...) }
