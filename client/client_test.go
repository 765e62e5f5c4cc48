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

// TestUploadCutMidwayNamesTheFileAndResumes: when the link breaks during
// a transfer, Upload says which file it was sending and reports it as not
// confirmed; the hub keeps only a part, nothing under a final name; and
// sending again with the same resume key continues from the part.
func TestUploadCutMidwayNamesTheFileAndResumes(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	proxy := hubtest.StartProxy(t, h.Addr)
	c := hubtest.Dial(t, proxy.Addr, "alice")
	src := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(96 << 20) // sparse
	f.Close()
	m, _, err := transfer.Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("alice's resume key")
	var once sync.Once
	var sent int64
	rep, err := c.Upload(context.Background(), m, transfer.SendOptions{ResumeKey: key, Observer: transfer.Observer{
		Wrote: func(n int) {
			if sent += int64(n); sent > 16<<20 {
				once.Do(proxy.Cut)
			}
		},
	}})
	if !errors.Is(err, transfer.ErrConnectionLost) || !strings.Contains(err.Error(), "big.bin") {
		t.Fatalf("Upload: %v, want connection lost naming big.bin; report %+v", err, rep.Files)
	}
	if len(rep.Files) != 1 || rep.Files[0].Status != transfer.Unconfirmed {
		t.Errorf("report: %+v, want big.bin unconfirmed", rep.Files)
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
	if entries := uploads(t, h.Dir); len(entries) != 1 || !strings.HasPrefix(entries[0], ".muxfer-") || !strings.HasSuffix(entries[0], ".part") {
		t.Fatalf("hub directory holds %v after a cut transfer, want one part", entries)
	}

	c2 := hubtest.Dial(t, h.Addr, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err = c2.Upload(ctx, m, transfer.SendOptions{ResumeKey: key})
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("second Upload: %v; report %+v", err, rep.Files)
	}
	if r := rep.Files[0]; r.Resumed <= 0 || r.Resumed >= 96<<20 {
		t.Errorf("resumed from byte %d, want somewhere after 0 and before the end", r.Resumed)
	}
	if entries := uploads(t, h.Dir); len(entries) != 1 || entries[0] != "big.bin" {
		t.Errorf("hub directory holds %v, want big.bin alone", entries)
	}
	if got, want := hubtest.TreeHashes(t, h.Dir)["big.bin"], hubtest.TreeHashes(t, filepath.Dir(src))["big.bin"]; got != want {
		t.Errorf("big.bin arrived with SHA-256 %.12s, sent %.12s", got, want)
	}
}

// uploads lists the names in the hub's folder, less the hub's own records.
func uploads(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != transfer.RecordsFile && e.Name() != hub.UploadsFile {
			names = append(names, e.Name())
		}
	}
	return names
}
