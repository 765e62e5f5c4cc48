package mux_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// TestTLSOnOneEndOnlyIsToldOnBothEnds: a client with TLS and a hub
// without, or the reverse, each say that TLS is on at one end only and
// which end has it off, where both said only that the connection closed.
func TestTLSOnOneEndOnlyIsToldOnBothEnds(t *testing.T) {
	key := mux.NewKey()
	tls, plain := mux.Config{Key: key}, mux.Config{InsecureNoTLS: true}
	for _, tt := range []struct {
		name                string
		hub, client         mux.Config
		hubSays, clientSays string
	}{
		{"TLS client, hub without", plain, tls,
			"the client speaks TLS and this hub has it off (--insecure-no-tls)",
			"the hub has it off (--insecure-no-tls) and this client on"},
		{"client without TLS, TLS hub", tls, plain,
			"the client has it off (--insecure-no-tls) and this hub speaks TLS",
			"the hub speaks TLS and this client has it off (--insecure-no-tls)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Many times: the hub closes right after its answer, and the
			// client must read the answer first all the same.
			for range 20 {
				addr, hubErr := hubOnce(t, tt.hub)
				_, _, err := mux.Dial(context.Background(), addr, protocol.Hello{Name: "x"}, tt.client)
				if !errors.Is(err, mux.ErrTLSMismatch) || !strings.Contains(err.Error(), "TLS is on at one end only: "+tt.clientSays) {
					t.Fatalf("client: %v, want %q", err, tt.clientSays)
				}
				if err := <-hubErr; !errors.Is(err, mux.ErrTLSMismatch) || !strings.Contains(err.Error(), tt.hubSays) {
					t.Fatalf("hub: %v, want %q", err, tt.hubSays)
				}
			}
		})
	}
}
