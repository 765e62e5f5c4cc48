package hub_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// TestShutdownLetsTransfersFinish: a hub that is shutting down tells its
// clients, refuses new offers and connections, and waits for the transfer
// in progress, which completes and verifies.
func TestShutdownLetsTransfersFinish(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	c := hubtest.Dial(t, h.Addr, "alice")
	other := hubtest.Dial(t, h.Addr, "bob")
	src := t.TempDir()
	writeRandom(t, filepath.Join(src, "big.bin"), 48<<20)
	m, _, err := transfer.Scan(filepath.Join(src, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	shut := make(chan error, 1)
	var sent int64
	rep, err := c.Upload(context.Background(), m, transfer.SendOptions{Observer: transfer.Observer{
		Wrote: func(n int) {
			if sent += int64(n); sent > 8<<20 {
				once.Do(func() {
					go func() {
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						defer cancel()
						shut <- h.Shutdown(ctx)
					}()
					// Wait for the notice before going on, so the offer
					// below is made while the hub drains.
					other.WaitFor(t, wait, "the shutdown notice", func(ms []protocol.Message) bool {
						for _, m := range ms {
							if _, ok := m.(protocol.Notice); ok {
								return true
							}
						}
						return false
					})
				})
			}
		},
	}})
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("the transfer in progress was cut: %v, %+v", err, rep.Files)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	hubtest.SameTree(t, filepath.Join(src, "big.bin"), filepath.Join(h.Dir, "big.bin"))
}

// TestShutdownRefusesNewWorkAndEndsAfterGrace: during the grace period a
// new offer is rejected; when the grace runs out, the hub closes anyway.
func TestShutdownRefusesNewWorkAndEndsAfterGrace(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	proxy := hubtest.StartProxy(t, h.Addr)
	stuck := hubtest.Dial(t, proxy.Addr, "stuck")
	late := hubtest.Dial(t, h.Addr, "late")
	src := filepath.Join(t.TempDir(), "big.bin")
	writeRandom(t, src, 32<<20)
	m, _, err := transfer.Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var sent int64
	uploaded := make(chan error, 1)
	go func() {
		_, err := stuck.Upload(context.Background(), m, transfer.SendOptions{Observer: transfer.Observer{
			Wrote: func(n int) {
				if sent += int64(n); sent > 4<<20 {
					once.Do(proxy.Stall) // the transfer can no longer finish
				}
			},
		}})
		uploaded <- err
	}()
	waitUntil(t, "the stuck transfer to start", func() bool {
		parts, _ := filepath.Glob(filepath.Join(h.Dir, ".muxfer-*.part"))
		return len(parts) > 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- h.Shutdown(ctx) }()
	late.WaitFor(t, wait, "the shutdown notice", func(ms []protocol.Message) bool {
		for _, m := range ms {
			if _, ok := m.(protocol.Notice); ok {
				return true
			}
		}
		return false
	})
	small := filepath.Join(t.TempDir(), "small.txt")
	writeRandom(t, small, 10)
	m2, _, _ := transfer.Scan(small)
	if _, err := late.Upload(context.Background(), m2, transfer.SendOptions{}); err == nil {
		t.Error("an offer made during shutdown was accepted")
	}
	if err := <-shut; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown past its grace: %v, want DeadlineExceeded", err)
	}
	proxy.Resume()
	if err := <-uploaded; err == nil {
		t.Error("the stuck transfer reported success")
	}
}
