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
// client writes
//
//	its Ed25519 public key (32) | n (1) | an invitation (n: 0 or 32) |
//	Ed25519 signature (64) over "muxfer member proof v1" 0x00 E n invitation
//
// where E is 32 bytes exported from the TLS session with label
// memberLabel and no context. The hub answers with one byte: 0, and yamux
// starts; or 1, a length byte and that many bytes of ASCII saying why
// (not a member, a proof that does not verify, an invitation spent or
// expired), and it closes the connection. A client that is not a member
// yet presents an invitation's secret, which the hub may take to make it
// one (Config.Member decides).

const (
	memberLabel   = "EXPORTER-muxfer v1 member proof"
	memberContext = "muxfer member proof v1\x00"

	// InvitationLen is the length of an invitation's secret.
	InvitationLen = 32
)

// ErrNotMember is what Config.Member returns for an identity it does not
// admit and no invitation.
var ErrNotMember = errors.New("not a member of this hub")

// proveMember writes the member proof for id, with invitation (nil for
// none), on tc and reads the hub's answer.
func proveMember(tc *tls.Conn, id ed25519.PrivateKey, invitation []byte) error {
	if len(invitation) != 0 && len(invitation) != InvitationLen {
		return fmt.Errorf("an invitation's secret is %d bytes, not %d", InvitationLen, len(invitation))
	}
	ekm, err := memberMessage(tc)
	if err != nil {
		return err
	}
	body := append([]byte{byte(len(invitation))}, invitation...)
	proof := append(append([]byte{}, id.Public().(ed25519.PublicKey)...), body...)
	proof = append(proof, ed25519.Sign(id, append(ekm, body...))...)
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
func checkMember(tc *tls.Conn, member func(ed25519.PublicKey, []byte) error) (ed25519.PublicKey, error) {
	ekm, err := memberMessage(tc)
	if err != nil {
		return nil, err
	}
	head := make([]byte, ed25519.PublicKeySize+1)
	if _, err := io.ReadFull(tc, head); err != nil {
		return nil, fmt.Errorf("%w: no member proof: %v", ErrAuth, err)
	}
	pub, n := ed25519.PublicKey(head[:ed25519.PublicKeySize]), int(head[ed25519.PublicKeySize])
	if n != 0 && n != InvitationLen {
		return nil, fmt.Errorf("%w: a member proof with an invitation of %d bytes", ErrAuth, n)
	}
	rest := make([]byte, n+ed25519.SignatureSize)
	if _, err := io.ReadFull(tc, rest); err != nil {
		return nil, fmt.Errorf("%w: no member proof: %v", ErrAuth, err)
	}
	invitation := rest[:n]
	signed := append(append(ekm, byte(n)), invitation...)
	var why error
	switch {
	case !ed25519.Verify(pub, signed, rest[n:]):
		why = errors.New("the member proof does not verify")
	case member == nil:
		why = ErrNotMember
	default:
		why = member(pub, invitation)
	}
	if why != nil {
		text := why.Error()
		if len(text) > 255 {
			text = text[:255]
		}
		tc.Write(append([]byte{1, byte(len(text))}, text...))
		return nil, fmt.Errorf("%w: %s (identity %s)", ErrAuth, text, hexPrefix(pub))
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
