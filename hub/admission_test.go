package hub_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// TestHubRefusesClientsBeyondMaxClients has many clients say hello at
// once: exactly MaxClients get in, every other one is told the hub is
// full, and a place freed is a place for the next client.
func TestHubRefusesClientsBeyondMaxClients(t *testing.T) {
	const limit, callers = 5, 20
	h := hubtest.Start(t, hub.Config{MaxClients: limit})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var (
		mu       sync.Mutex
		admitted []*client.Client
		refusals []error
		wg       sync.WaitGroup
	)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := client.Dial(ctx, h.Addr, client.Config{Name: fmt.Sprint("c", i), Mux: hubtest.ClientConfig(h.Addr)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				refusals = append(refusals, err)
				return
			}
			admitted = append(admitted, c)
		}()
	}
	wg.Wait()
	for _, c := range admitted {
		t.Cleanup(func() { c.Close() })
	}
	if len(admitted) != limit || len(refusals) != callers-limit {
		t.Fatalf("%d clients admitted and %d refused, want %d and %d; refusals: %v", len(admitted), len(refusals), limit, callers-limit, refusals)
	}
	want := fmt.Sprintf("hub is full: %d clients", limit)
	for _, err := range refusals {
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeLimit || pe.Text != want {
			t.Errorf("refusal %v, want an Error %q %q", err, protocol.CodeLimit, want)
		}
	}
	if got := len(h.Clients()); got != limit {
		t.Errorf("hub lists %d clients, want %d", got, limit)
	}

	admitted[0].Close()
	waitUntil(t, "the hub to drop the client that left", func() bool { return len(h.Clients()) == limit-1 })
	hubtest.Dial(t, h.Addr, "next")
}

// TestHandshakesBeyondTheLimitAreClosedAtOnce fills every handshake slot
// with connections that say nothing, and then sends a burst more: each of
// those is closed long before the (one minute) handshake deadline, the
// hub says so in a line a second rather than one per connection, and a
// client gets in as soon as a slot frees.
func TestHandshakesBeyondTheLimitAreClosedAtOnce(t *testing.T) {
	const slots, burst = 4, 50
	logs := &logRecorder{}
	h := hubtest.Start(t, hub.Config{MaxHandshakes: slots, Logger: slog.New(logs), Mux: mux.Config{HandshakeTimeout: time.Minute}})
	var silent []net.Conn
	for range slots {
		silent = append(silent, rawConn(t, h.Addr))
	}
	waitUntil(t, "every slot to be taken", func() bool { return h.Handshaking() == slots })

	start := time.Now()
	for range burst {
		expectClosedWithin(t, rawConn(t, h.Addr), 5*time.Second)
	}
	elapsed := time.Since(start)
	lines := logs.count("too many connections in their handshake; closing new ones")
	if most := 1 + int(elapsed/time.Second); lines < 1 || lines > most {
		t.Errorf("%d connections refused in %s made %d log lines, want 1 to %d", burst, elapsed, lines, most)
	}
	if got := h.Handshaking(); got != slots {
		t.Errorf("%d handshakes after the burst, want the %d silent ones", got, slots)
	}

	silent[0].Close()
	waitUntil(t, "the hub to free the closed connection's slot", func() bool { return h.Handshaking() == slots-1 })
	hubtest.Dial(t, h.Addr, "patient")
}

func TestNameSuffixesAreBounded(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	h.SetNameLimit(3)
	for _, want := range []string{"x", "x-2", "x-3"} {
		if got := hubtest.Dial(t, h.Addr, "x").Name(); got != want {
			t.Fatalf("got name %q, want %q", got, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := client.Dial(ctx, h.Addr, client.Config{Name: "X", Mux: hubtest.ClientConfig(h.Addr)})
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeLimit {
		t.Fatalf("fourth x: %v, want an Error of code %q", err, protocol.CodeLimit)
	}
	t.Logf("hub said: %s", pe.Text)
	if got := hubtest.Dial(t, h.Addr, "y").Name(); got != "y" {
		t.Errorf("another name: got %q, want y", got)
	}
}

// logRecorder is a slog.Handler that keeps every record's message.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}

// count returns how many records had the message msg.
func (l *logRecorder) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if m == msg {
			n++
		}
	}
	return n
}
