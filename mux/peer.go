package mux

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/muxfer/muxfer/protocol"
)

// Two clients of a hub talk end to end on a channel the hub relays (a
// data stream of each, spliced by the hub: see Stream.Channel). On it they
// run a session of their own, as on a hub connection, secured between the
// two of them:
//
//  1. TLS 1.3, ALPN peerALPN, in which both ends present a self-signed
//     certificate whose key is their Ed25519 identity (the same form as a
//     hub's). The caller (TLS client) accepts only the identity it
//     expects; the answerer (TLS server) requires the caller's
//     certificate, and refuses an identity it does not admit with an
//     Error in place of its Welcome (step 2). No
//     access key, member proof or hello proof follows: TLS's own
//     CertificateVerify, over the whole handshake, proves each key.
//  2. yamux and the control stream, with the caller in a client's role: it
//     sends a Hello, the answerer a Welcome, and then either end sends
//     control messages and opens data streams.
//
// The hub sees TLS records only: it can cut the channel, delay it, or
// count its bytes, but not read or change them unnoticed.

// peerALPN names the protocol of an end-to-end session, so that its TLS
// can never be taken for a hub connection's.
const peerALPN = "muxfer-peer/1"

// peering is the part of a Config that makes it an end-to-end session's.
type peering struct {
	want ed25519.PublicKey // the caller's: the answerer's identity; nil for any
}

// PeerKeyError reports that the other end of an end-to-end session holds
// another identity than the one expected.
type PeerKeyError struct {
	Want, Got ed25519.PublicKey
}

func (e *PeerKeyError) Error() string {
	return fmt.Sprintf("the peer's identity is %s, not %s as expected", hexPrefix(e.Got), hexPrefix(e.Want))
}

// Call opens an end-to-end session on conn, a channel to another client,
// as the caller. cfg.Identity (required) is this end's identity; want is
// the identity the other end must have, or nil to accept any (the first
// contact with someone: Session.Identity then says whose it is). A key
// other than want fails with a *PeerKeyError before anything is sent.
// cfg's access key, hub settings and InsecureNoTLS are ignored: the
// session always runs TLS. On failure Call closes conn.
func Call(ctx context.Context, conn net.Conn, cfg Config, want ed25519.PublicKey) (*Session, error) {
	if cfg.Identity == nil {
		conn.Close()
		return nil, errors.New("an end-to-end session needs an identity")
	}
	s, _, err := Client(ctx, conn, protocol.Hello{}, cfg.forPeer(&peering{want: want}))
	return s, err
}

// Answer is the other end of Call: it accepts the caller on conn if
// admit, given the identity the caller proved, returns nil, and welcomes
// it; otherwise the caller is refused with an Error of code identity
// whose text is admit's error. On failure it closes conn.
func Answer(ctx context.Context, conn net.Conn, cfg Config, admit func(ed25519.PublicKey) error) (*Session, error) {
	if cfg.Identity == nil {
		conn.Close()
		return nil, errors.New("an end-to-end session needs an identity")
	}
	if admit == nil {
		admit = func(ed25519.PublicKey) error { return nil }
	}
	s, _, err := Accept(ctx, conn, cfg.forPeer(&peering{}))
	if err != nil {
		return nil, err
	}
	// The caller is refused in words, after TLS, rather than by a TLS
	// alert: in TLS 1.3 a client's handshake ends before the server has
	// checked its certificate, so an alert would reach it only as a
	// broken connection.
	if err := admit(s.Identity()); err != nil {
		s.refuse(protocol.CodeIdentity, err.Error())
		return nil, err
	}
	if err := s.Send(protocol.Welcome{Version: protocol.Version}); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Ready(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// forPeer keeps of c what an end-to-end session uses: its identity, its
// timing and its window.
func (c Config) forPeer(p *peering) Config {
	return Config{Identity: c.Identity, HandshakeTimeout: c.HandshakeTimeout, IOTimeout: c.IOTimeout,
		KeepAlive: c.KeepAlive, Linger: c.Linger, StreamWindow: c.StreamWindow, peer: p}
}

// tlsConfig returns the TLS configuration of an end-to-end session's end.
func (p *peering) tlsConfig(self ed25519.PrivateKey, server bool, got *ed25519.PublicKey) (*tls.Config, error) {
	cert, err := certificate(self)
	if err != nil {
		return nil, err
	}
	verify := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%w: the peer presented no identity", ErrAuth)
		}
		key, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
		if !ok {
			return fmt.Errorf("%w: the peer's identity is not an Ed25519 key", ErrAuth)
		}
		if !server && p.want != nil && !key.Equal(p.want) {
			return &PeerKeyError{Want: p.want, Got: key}
		}
		*got = key
		return nil
	}
	cfg := &tls.Config{
		MinVersion:             tls.VersionTLS13,
		NextProtos:             []string{peerALPN},
		Certificates:           []tls.Certificate{*cert},
		SessionTicketsDisabled: true, // a resumed session would skip the certificates
		InsecureSkipVerify:     true, // replaced by verify: the key is all there is to check
		VerifyConnection:       verify,
	}
	if server {
		cfg.ClientAuth = tls.RequireAnyClientCert
	} else {
		cfg.ServerName = "muxfer"
	}
	return cfg, nil
}

// securePeer runs an end-to-end session's TLS over conn.
func securePeer(conn net.Conn, cfg Config, server bool) (net.Conn, error) {
	var got ed25519.PublicKey
	tcfg, err := cfg.peer.tlsConfig(cfg.Identity, server, &got)
	if err != nil {
		return nil, err
	}
	raw := newBatchConn(conn)
	tc := tls.Client(raw, tcfg)
	if server {
		tc = tls.Server(raw, tcfg)
	}
	if err := tc.Handshake(); err != nil {
		var pk *PeerKeyError
		if errors.As(err, &pk) {
			return nil, pk
		}
		return nil, fmt.Errorf("end-to-end TLS: %w", err)
	}
	if tc.ConnectionState().NegotiatedProtocol != peerALPN {
		return nil, fmt.Errorf("end-to-end TLS: the peer does not speak %s", peerALPN)
	}
	return &batchedTLS{Conn: tc, raw: raw, peer: got}, nil
}
