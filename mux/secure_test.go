package mux_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

func TestParseKey(t *testing.T) {
	k := mux.NewKey()
	tests := []struct {
		in, err string
	}{
		{k.Text(), ""},
		{"  " + strings.ToUpper(k.Text()) + "\n", ""},
		{"mxk1.aaaaaaaaaaaaaaaaaaaaaaaaaa", ""}, // 16 bytes: exactly 128 bits
		{"mxk1.aaaaaaaaaaaaaaaa", "80 bits, at least 128"},
		{"hunter2", "not a muxfer access key"},
		{"", "not a muxfer access key"},
		{"mxk1.!!!!", "damaged"},
	}
	for _, tt := range tests {
		got, err := mux.ParseKey(tt.in)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("ParseKey(%q): %v", tt.in, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseKey(%q) = %v, want an error with %q", tt.in, err, tt.err)
		case tt.err == "" && tt.in == k.Text() && got.Text() != k.Text():
			t.Errorf("round trip: %q", got)
		}
	}
}

// hubOnce accepts one connection on a new listener with cfg and returns
// its address and the result of mux.Accept.
func hubOnce(t *testing.T, cfg mux.Config) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	res := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			res <- err
			return
		}
		s, _, err := mux.Accept(context.Background(), conn, cfg)
		if err == nil {
			s.Close()
		}
		res <- err
	}()
	return ln.Addr().String(), res
}

func TestWrongKeyFailsAuthenticationOnBothEnds(t *testing.T) {
	addr, hubErr := hubOnce(t, mux.Config{Key: mux.NewKey()})
	_, _, err := mux.Dial(context.Background(), addr, protocol.Hello{Name: "x"}, mux.Config{Key: mux.NewKey()})
	if !errors.Is(err, mux.ErrAuth) || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("client: %v, want authentication failed", err)
	}
	if err := <-hubErr; !errors.Is(err, mux.ErrAuth) {
		t.Errorf("hub: %v, want ErrAuth", err)
	}
}

// TestClientRefusesMachineInTheMiddle: a proxy that terminates TLS with
// its own certificate gets nothing from the client beyond the TLS
// handshake: no proof, nothing derived from the key.
func TestClientRefusesMachineInTheMiddle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer conn.Close()
		tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, NextProtos: []string{"muxfer/1"}})
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		if tc.Handshake() != nil {
			got <- 0 // the client broke off the handshake
			return
		}
		b, _ := io.ReadAll(tc)
		got <- len(b)
	}()
	_, _, err = mux.Dial(context.Background(), ln.Addr().String(), protocol.Hello{Name: "x"}, mux.Config{Key: testKey})
	if !errors.Is(err, mux.ErrAuth) {
		t.Fatalf("client talked to the machine in the middle: %v", err)
	}
	if n := <-got; n != 0 {
		t.Errorf("the machine in the middle received %d bytes of application data", n)
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"muxfer"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
}

// TestNothingReadableWithoutTheKey: clients that skip or fake the steps
// are dropped by the hub without reading a single byte of the session. A
// client without TLS reads one TLS alert, which says that the hub speaks
// TLS, and nothing else.
func TestNothingReadableWithoutTheKey(t *testing.T) {
	tests := []struct {
		name   string
		talk   func(t *testing.T, conn net.Conn) net.Conn // returns what to read from
		hub    string                                     // in the hub's error
		answer []byte                                     // all that may be read
	}{
		{"TLS without checking the hub, a guessed proof", func(t *testing.T, conn net.Conn) net.Conn {
			tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			proof := make([]byte, 32)
			rand.Read(proof)
			tc.Write(proof)
			return tc
		}, "wrong proof", nil},
		{"TLS, then silence", func(t *testing.T, conn net.Conn) net.Conn {
			tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			return tc
		}, "authentication failed: no proof", nil},
		{"TLS 1.2 only", func(t *testing.T, conn net.Conn) net.Conn {
			tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
			tc.Handshake()
			return tc
		}, "TLS", nil},
		{"plain yamux hello", func(t *testing.T, conn net.Conn) net.Conn {
			conn.Write([]byte{0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}) // a yamux SYN
			return conn
		}, "TLS", []byte{0x15, 3, 3, 0, 2, 2, 70}}, // alert: fatal, protocol_version
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, hubErr := hubOnce(t, mux.Config{Key: testKey, HandshakeTimeout: 500 * time.Millisecond})
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			r := tt.talk(t, conn)
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if b, _ := io.ReadAll(r); !bytes.Equal(b, tt.answer) {
				t.Errorf("read %d bytes without the key: %q, want %q", len(b), b, tt.answer)
			}
			if err := <-hubErr; err == nil || !strings.Contains(err.Error(), tt.hub) {
				t.Errorf("hub: %v, want %q", err, tt.hub)
			}
		})
	}
}

func TestSessionIsTLS13(t *testing.T) {
	addr, hubErr := hubOnce(t, mux.Config{Key: testKey})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := mux.SecureClient(context.Background(), conn, mux.Config{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	cs := sc.(interface{ ConnectionState() tls.ConnectionState }).ConnectionState()
	if cs.Version != tls.VersionTLS13 || cs.NegotiatedProtocol != "muxfer/1" {
		t.Errorf("version %x, ALPN %q", cs.Version, cs.NegotiatedProtocol)
	}
	sc.Close()
	<-hubErr // the hub waited for a hello and got none
}

func TestKeyIsRedactedWhenPrinted(t *testing.T) {
	k := mux.NewKey()
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v", mux.Config{Key: k}, mux.Config{Key: k})} {
		if strings.Contains(s, k.Text()[5:15]) {
			t.Errorf("the key leaks when printed: %s", s)
		}
	}
}
