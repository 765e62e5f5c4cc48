package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/transfer"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestUploadTestdataArrivesIntact(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	src := hubtest.Testdata(t, "../testdata")
	c := hubtest.Dial(t, h.Addr, "alice")
	m, skipped, err := transfer.Scan(src)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("Scan: %v, skipped %v", err, skipped)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := c.Upload(ctx, m, transfer.SendOptions{Parallel: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() != 0 {
		t.Fatalf("failed files: %+v", rep.Files)
	}
	hubtest.SameTree(t, src, filepath.Join(h.Dir, "testdata"))
}

// TestUploadCutMidwayNamesTheFileAndLeavesNothing: when the link breaks
// during a transfer, Upload says which file it was sending and reports
// every file as not confirmed, and the hub keeps nothing under a final
// name.
func TestUploadCutMidwayNamesTheFileAndLeavesNothing(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	proxy := hubtest.StartProxy(t, h.Addr)
	c := hubtest.Dial(t, proxy.Addr, "alice")
	src := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(1 << 30) // sparse
	f.Close()
	m, _, err := transfer.Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var sent int64
	rep, err := c.Upload(context.Background(), m, transfer.SendOptions{Observer: transfer.Observer{
		Wrote: func(n int) {
			if sent += int64(n); sent > 16<<20 {
				once.Do(proxy.Cut)
			}
		},
	}})
	if !errors.Is(err, transfer.ErrConnectionLost) || !strings.Contains(err.Error(), "big.bin") {
		t.Fatalf("Upload: %v, want connection lost naming big.bin; report %+v", err, rep.Files)
	}
	if rep.Failed() != 1 {
		t.Errorf("report: %+v", rep.Files)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.After(10 * time.Second); len(h.Clients()) > 0; {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("the hub never noticed the cut")
		}
	}
	if entries, _ := os.ReadDir(h.Dir); len(entries) != 0 {
		t.Errorf("hub directory holds %v after a cut transfer", entries)
	}
}
