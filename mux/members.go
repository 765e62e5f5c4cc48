package mux

import (
	"crypto/ed25519"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// A members-only hub (Config.HubIdentity) has an identity of its own
// instead of one derived from an access key, and admits only the
// identities it lists. After TLS, in place of the access-key proof, the
// client writes 96 bytes:
//
//	its Ed25519 public key (32) | Ed25519 signature (64) over
//	"muxfer member proof v1" 0x00 E
//
// where E is 32 bytes exported from the TLS session with label
// memberLabel and no context. The hub answers with one byte: 0, and yamux
// starts; or 1, a length byte and that many bytes of UTF-8 saying why
// (not a member, a proof that does not verify), and it closes the
// connection.

const (
	memberLabel    = "EXPORTER-muxfer v1 member proof"
	memberContext  = "muxfer member proof v1\x00"
	memberProofLen = ed25519.PublicKeySize + ed25519.SignatureSize
)

// proveMember writes the member proof for id on tc and reads the hub's
// answer.
func proveMember(tc *tls.Conn, id ed25519.PrivateKey) error {
	msg, err := memberMessage(tc)
	if err != nil {
		return err
	}
	proof := append(append([]byte{}, id.Public().(ed25519.PublicKey)...), ed25519.Sign(id, msg)...)
	if _, err := tc.Write(proof); err != nil {
		return err
	}
	var status [2]byte
	if _, err := io.ReadFull(tc, status[:1]); err != nil {
		return fmt.Errorf("%w: the hub closed the connection without an answer to the member proof: %v", ErrAuth, err)
	}
	if status[0] == 0 {
		return nil
	}
	if _, err := io.ReadFull(tc, status[1:]); err != nil {
		return fmt.Errorf("%w: the hub refused this identity", ErrAuth)
	}
	why := make([]byte, status[1])
	if _, err := io.ReadFull(tc, why); err != nil {
		return fmt.Errorf("%w: the hub refused this identity", ErrAuth)
	}
	return fmt.Errorf("%w: the hub refused this identity: %s", ErrAuth, clean(why))
}

// checkMember reads a client's member proof on tc, answers it, and
// returns the identity it proves if member admits it.
func checkMember(tc *tls.Conn, member func(ed25519.PublicKey) bool) (ed25519.PublicKey, error) {
	msg, err := memberMessage(tc)
	if err != nil {
		return nil, err
	}
	proof := make([]byte, memberProofLen)
	if _, err := io.ReadFull(tc, proof); err != nil {
		return nil, fmt.Errorf("%w: no member proof: %v", ErrAuth, err)
	}
	pub := ed25519.PublicKey(proof[:ed25519.PublicKeySize])
	var why string
	switch {
	case !ed25519.Verify(pub, msg, proof[ed25519.PublicKeySize:]):
		why = "the member proof does not verify"
	case member == nil || !member(pub):
		why = "not a member of this hub"
	}
	if why != "" {
		tc.Write(append([]byte{1, byte(len(why))}, why...))
		return nil, fmt.Errorf("%w: %s (identity %s)", ErrAuth, why, hexPrefix(pub))
	}
	if _, err := tc.Write([]byte{0}); err != nil {
		return nil, err
	}
	return pub, nil
}

func memberMessage(tc *tls.Conn) ([]byte, error) {
	cs := tc.ConnectionState()
	if cs.Version != tls.VersionTLS13 {
		return nil, errors.New("TLS: not version 1.3")
	}
	ekm, err := cs.ExportKeyingMaterial(memberLabel, nil, 32)
	if err != nil {
		return nil, err
	}
	return append([]byte(memberContext), ekm...), nil
}

// hexPrefix shows the start of a key, for errors and logs.
func hexPrefix(pub ed25519.PublicKey) string {
	s := hex.EncodeToString(pub)
	if len(s) > 16 {
		s = s[:16] + "…"
	}
	return s
}

// clean keeps what a hub says fit for one line of text: printable ASCII.
func clean(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c >= 0x20 && c < 0x7f {
			out = append(out, c)
		} else {
			out = append(out, '?')
		}
	}
	return string(out)
}
