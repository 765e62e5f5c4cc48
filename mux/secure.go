package mux

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"time"
)

// How a connection is secured, before yamux runs on it:
//
//  1. TLS 1.3. The hub's certificate carries an Ed25519 key derived from
//     the access key. The client accepts the hub only if the certificate's
//     key is the one it derives itself: a machine in the middle with its
//     own certificate is refused before the client sends anything but its
//     ClientHello.
//  2. The client then writes 32 bytes: HMAC-SHA256, keyed by another key
//     derived from the access key, of 32 bytes exported from this TLS
//     session (RFC 8446 section 7.5). The hub checks it in constant time.
//     The proof is bound to the session, so it cannot be replayed, and it
//     reveals nothing that a guess of the key could be tested against.
//
// Until both steps succeed the hub reads nothing else and sends nothing
// but its TLS handshake (or, to a client without TLS, one TLS alert: see
// mismatch.go).

const (
	alpn        = "muxfer/1"
	exportLabel = "EXPORTER-muxfer v1 client proof"
	proofLen    = sha256.Size
)

// ErrAuth reports that the other end does not hold the access key.
var ErrAuth = errors.New("authentication failed")

// secureClient runs TLS and proves the key over conn. With InsecureNoTLS
// it returns conn unchanged.
func secureClient(conn net.Conn, cfg Config) (net.Conn, error) {
	if cfg.peer != nil {
		return securePeer(conn, cfg, false)
	}
	if cfg.InsecureNoTLS {
		if cfg.HubKey != nil {
			return nil, errors.New("a members-only hub needs TLS")
		}
		return conn, nil
	}
	var want ed25519.PublicKey
	switch {
	case cfg.HubKey != nil:
		if cfg.Identity == nil {
			return nil, errors.New("a members-only hub needs an identity")
		}
		want = cfg.HubKey
	case cfg.Key.IsZero():
		return nil, errors.New("no access key")
	default:
		want = cfg.Key.hubIdentity().Public().(ed25519.PublicKey)
	}
	raw := newBatchConn(conn)
	tc := tls.Client(raw, &tls.Config{
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{alpn},
		ServerName:         "muxfer",
		InsecureSkipVerify: true, // replaced by the key check below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrAuth
			}
			got, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
			switch {
			case ok && got.Equal(want):
			case cfg.HubKey != nil:
				return fmt.Errorf("%w: the hub's key is not the one expected (%s), or someone is in the middle", ErrAuth, hexPrefix(want))
			default:
				return fmt.Errorf("%w: the hub does not hold this access key, or someone is in the middle", ErrAuth)
			}
			return nil
		},
	})
	if err := tc.Handshake(); err != nil {
		switch {
		case errors.Is(err, ErrAuth):
			return nil, err
		case hubWithoutTLS(err):
			return nil, errHubWithoutTLS
		}
		return nil, fmt.Errorf("TLS: %w", err)
	}
	if cfg.HubKey != nil {
		if err := proveMember(tc, cfg.Identity, cfg.Invitation); err != nil {
			return nil, err
		}
		return &batchedTLS{Conn: tc, raw: raw}, nil
	}
	proof, err := proofFor(tc, cfg.Key)
	if err != nil {
		return nil, err
	}
	if _, err := tc.Write(proof); err != nil {
		return nil, err
	}
	return &batchedTLS{Conn: tc, raw: raw}, nil
}

// secureServer runs TLS and checks the client's proof over conn.
func secureServer(conn net.Conn, cfg Config) (net.Conn, error) {
	if cfg.peer != nil {
		return securePeer(conn, cfg, true)
	}
	if cfg.InsecureNoTLS {
		return conn, nil
	}
	priv := cfg.HubIdentity
	if priv == nil {
		if cfg.Key.IsZero() {
			return nil, errors.New("no access key")
		}
		priv = cfg.Key.hubIdentity()
	}
	cert, err := certificate(priv)
	if err != nil {
		return nil, err
	}
	raw := newBatchConn(conn)
	tc := tls.Server(raw, &tls.Config{
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{alpn},
		Certificates: []tls.Certificate{*cert},
		// No session tickets: the hub sends nothing after its handshake
		// until the client has proved the key, and a resumed session would
		// skip the certificate the client checks.
		SessionTicketsDisabled: true,
	})
	if err := tc.Handshake(); err != nil {
		if refusedCertificate(err) {
			return nil, fmt.Errorf("%w: the client refused this hub's identity (it holds another key)", ErrAuth)
		}
		return nil, fmt.Errorf("TLS: %w", err)
	}
	if cfg.HubIdentity != nil {
		member, err := checkMember(tc, cfg.Member)
		if err != nil {
			return nil, err
		}
		return &batchedTLS{Conn: tc, raw: raw, peer: member}, nil
	}
	want, err := proofFor(tc, cfg.Key)
	if err != nil {
		return nil, err
	}
	got := make([]byte, proofLen)
	if _, err := io.ReadFull(tc, got); err != nil {
		return nil, fmt.Errorf("%w: no proof of the key: %v", ErrAuth, err)
	}
	if !hmac.Equal(got, want) {
		return nil, fmt.Errorf("%w: wrong proof of the key", ErrAuth)
	}
	return &batchedTLS{Conn: tc, raw: raw}, nil
}

// refusedCertificate reports a client's alert that it does not accept the
// hub's certificate. crypto/tls reports alerts from the peer as a
// *net.OpError "remote error" whose Err is an unexported alert type.
func refusedCertificate(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" {
		return false
	}
	switch op.Err.Error() {
	case "tls: bad certificate", "tls: unsupported certificate", "tls: unknown certificate", "tls: unknown certificate authority":
		return true
	}
	return false
}

func proofFor(tc *tls.Conn, k Key) ([]byte, error) {
	cs := tc.ConnectionState()
	if cs.Version != tls.VersionTLS13 {
		return nil, errors.New("TLS: not version 1.3")
	}
	ekm, err := cs.ExportKeyingMaterial(exportLabel, nil, 32)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, k.proofKey())
	m.Write(ekm)
	return m.Sum(nil), nil
}

// certs caches each hub identity's certificate.
var certs sync.Map // string(public key) -> *tls.Certificate

// certificate returns the self-signed TLS certificate of the hub whose
// identity is priv: derived from the access key, or a members-only hub's
// own. Nothing in it matters but the key, which clients check.
func certificate(priv ed25519.PrivateKey) (*tls.Certificate, error) {
	pub := string(priv.Public().(ed25519.PublicKey))
	if c, ok := certs.Load(pub); ok {
		return c.(*tls.Certificate), nil
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
		DNSNames:     []string{"muxfer"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
	certs.Store(pub, c)
	return c, nil
}

// SecureClient performs the security steps of Dial on conn: TLS 1.3 and
// the proof of the key (or nothing, with InsecureNoTLS), returning the
// connection to run yamux on. Tests use it to speak to a hub by hand.
func SecureClient(ctx context.Context, conn net.Conn, cfg Config) (net.Conn, error) {
	clock := startClock(ctx, conn, cfg.handshakeTimeout())
	sc, err := secureClient(conn, cfg)
	if !clock.stop() && err == nil {
		err = clock.err(context.DeadlineExceeded)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return sc, nil
}
