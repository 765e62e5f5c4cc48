package hub_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// yamuxFrame returns a yamux frame header (its spec.md): version 0, type,
// flags, stream, length.
func yamuxFrame(typ byte, flags uint16, stream, length uint32) []byte {
	b := []byte{0, typ}
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint32(b, stream)
	return binary.BigEndian.AppendUint32(b, length)
}

// A client that floods the hub with pings and never reads the answers
// would make it hold a goroutine per ping (yamux answers each from one of
// its own). The hub ends such a session, and serves the others.
func TestPingFloodEndsTheSession(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	alice := hubtest.Dial(t, h.Addr, "alice")

	conn, err := dialRaw(h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sc, err := floodPings(conn, h.Addr, "mallory", 20_000) // 240 KB of pings
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	// Read nothing until the writes are done, then drain: the hub must
	// have hung up, rather than answering every ping.
	_, err = io.Copy(io.Discard, sc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the hub kept the ping flood's connection open")
	}
	if _, err := alice.Who(context.Background()); err != nil {
		t.Fatalf("alice after the flood: %v", err)
	}
}

// floodPings secures conn to the hub at addr, opens the control stream
// and says hello as name, all written by hand, and then sends n pings
// without reading anything. It returns the secured connection, with a
// deadline of 20 s, for the caller to read from and close.
func floodPings(conn net.Conn, addr, name string, n int) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sc, err := mux.SecureClient(ctx, conn, hubtest.ClientConfig(addr))
	if err != nil {
		return nil, err
	}
	hello, _ := protocol.Encode(protocol.Hello{Version: protocol.Version, Name: name})
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(hello)))
	frame = append(frame, hello...)
	var out []byte
	out = append(out, yamuxFrame(1, 1, 1, 0)...) // window update, SYN: opens stream 1
	out = append(out, yamuxFrame(0, 0, 1, uint32(len(frame)))...)
	out = append(out, frame...)
	for i := range n {
		out = append(out, yamuxFrame(2, 1, 0, uint32(i))...)
	}
	sc.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := sc.Write(out); err != nil && !isClosedByPeer(err) {
		sc.Close()
		return nil, err
	}
	return sc, nil
}

// isClosedByPeer reports a write that failed because the hub hung up.
func isClosedByPeer(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) ||
		strings.Contains(err.Error(), "reset by peer") || strings.Contains(err.Error(), "broken pipe")
}
