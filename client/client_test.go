package client_test

import (
	"context"
	"path/filepath"
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
