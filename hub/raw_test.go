package hub_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// The tests that talk to the hub by hand, as an attacker would, reach it
// only through dialRaw (plain TCP, what anybody can send before TLS) and
// dialSession (everything a client holding the key does before its first
// message): when the way in changes, these are what change.

// dialRaw opens a plain TCP connection to addr.
func dialRaw(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, wait)
}

// dialSession connects to the hub at addr as a client holding the hub's
// key does, through TLS and the proof of the key, and starts a yamux
// session on it with its control stream open and nothing said: the caller
// speaks the protocol by hand, starting with its Hello.
func dialSession(addr string) (*yamux.Session, net.Conn, error) {
	return dialSessionVia(&net.Dialer{Timeout: wait}, addr)
}

// dialSessionVia is dialSession through d (from another local address).
func dialSessionVia(d *net.Dialer, addr string) (*yamux.Session, net.Conn, error) {
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sc, err := mux.SecureClient(ctx, conn, hubtest.ClientConfig(addr))
	if err != nil {
		return nil, nil, err // SecureClient has closed conn
	}
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	s, err := yamux.Client(sc, cfg)
	if err != nil {
		sc.Close()
		return nil, nil, err
	}
	ctrl, err := s.OpenStream()
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, ctrl, nil
}

// rawConn is dialRaw for the test's own goroutine. The connection is
// closed when the test ends.
func rawConn(t testing.TB, addr string) net.Conn {
	t.Helper()
	conn, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// rawSession is dialSession for the test's own goroutine. The session is
// closed when the test ends.
func rawSession(t testing.TB, addr string) (s *yamux.Session, ctrl net.Conn) {
	t.Helper()
	s, ctrl, err := dialSession(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, ctrl
}

// sayHello sends a Hello of the current version on ctrl and expects the
// hub's Welcome.
func sayHello(ctrl net.Conn, name string) error {
	if err := protocol.WriteMessage(ctrl, protocol.Hello{Version: protocol.Version, Name: name}); err != nil {
		return err
	}
	m, err := protocol.ReadMessage(ctrl)
	if err != nil {
		return err
	}
	if _, ok := m.(protocol.Welcome); !ok {
		return fmt.Errorf("want welcome, got %v", m)
	}
	return nil
}

// fakeProof completes TLS 1.3 with the hub over conn, as anybody can who
// does not check the hub's identity, and then sends 32 random bytes where
// the proof of the key belongs.
func fakeProof(conn net.Conn) error {
	tc := tls.Client(conn, &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{"muxfer/1"}, InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		return err
	}
	proof := make([]byte, 32)
	rand.Read(proof)
	_, err := tc.Write(proof)
	return err
}

// drip sends, one byte per tick and n bytes at most, the start of a TLS
// handshake record that announces 512 bytes: a slow client that looks
// like a real one, so that only the handshake deadline can end it.
func drip(conn net.Conn, tick time.Duration, n int) {
	t := time.NewTicker(tick) // the slowness is the attack
	defer t.Stop()
	record := append([]byte{0x16, 0x03, 0x01, 0x02, 0x00}, make([]byte, 512)...)
	for _, b := range record[:min(n, len(record))] {
		if _, err := conn.Write([]byte{b}); err != nil {
			return
		}
		<-t.C
	}
}
