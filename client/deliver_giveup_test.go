package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/transfer"
)

// TestDeliverGivesUpWithoutProgress: every connection dies as soon as it
// is made, so reconnecting always succeeds and nothing ever moves. Deliver
// must give up after Backoff.GiveUp, not loop for ever, and say so.
func TestDeliverGivesUpWithoutProgress(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	proxy := hubtest.StartProxy(t, h.Addr)
	src := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(src, []byte("never arrives\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, _, err := transfer.Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	dials := 0
	dial := func(ctx context.Context) (*client.Client, error) {
		c, err := client.Dial(ctx, proxy.Addr, client.Config{Name: "alice", Mux: hubtest.ClientConfig(proxy.Addr)})
		if err == nil {
			dials++
			proxy.Cut() // connected, and at once cut off
		}
		return c, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	giveUp := 600 * time.Millisecond
	start := time.Now()
	rep, err := client.Deliver(ctx, dial, m, client.DeliverOptions{
		Backoff: client.Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond, GiveUp: giveUp}})
	took := time.Since(start)
	if !errors.Is(err, transfer.ErrConnectionLost) || !strings.Contains(err.Error(), "gave up") {
		t.Fatalf("Deliver = %v, want connection lost and gave up", err)
	}
	if took < giveUp || took > giveUp+10*time.Second {
		t.Errorf("gave up after %s, want about %s", took, giveUp)
	}
	if dials < 2 {
		t.Errorf("dialled %d times, want several attempts", dials)
	}
	if len(rep.Files) != 1 || rep.Files[0].Status == transfer.Delivered {
		t.Errorf("report %+v, want a.txt not delivered", rep.Files)
	}
}
