package client_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// BenchmarkSendToPerson compares, in one run, a send from one client to
// another end to end (the link: TLS between the two inside a channel the
// hub copies) with the path it replaces, the hub's relay (the hub reads
// each file off the sender's TLS and writes it into the recipient's). The
// same hub, the same files, source and inbox in /dev/shm when it exists:
//
//	go test -run XXX -bench SendToPerson -benchtime 3x ./client
//
// MUXFER_BENCH_BIG sets the large file's size in MiB (default 1024).
func BenchmarkSendToPerson(b *testing.B) {
	big := 1024
	if v := os.Getenv("MUXFER_BENCH_BIG"); v != "" {
		fmt.Sscan(v, &big)
	}
	workloads := []struct {
		name  string
		make  func(b *testing.B, dir string) int64
		files int
	}{
		{fmt.Sprintf("files=1x%dMiB", big), func(b *testing.B, dir string) int64 { return bigFile(b, dir, int64(big)<<20) }, 1},
		{"files=5000x4KiB", func(b *testing.B, dir string) int64 { return smallFiles(b, dir, 5000, 4<<10) }, 5000},
	}
	h := hubtest.Start(b, hub.Config{Dir: memoryDir(b)})
	aliceID, bobID := client.NewIdentity(), client.NewIdentity() // names belong to keys
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	for _, w := range workloads {
		src := memoryDir(b)
		size := w.make(b, src)
		m, _, err := transfer.Scan(src)
		if err != nil {
			b.Fatal(err)
		}
		each := func(b *testing.B, inbox string, send func() (*transfer.Report, error)) {
			b.SetBytes(size)
			for b.Loop() {
				rep, err := send()
				if err != nil || rep.Failed() != 0 || len(rep.Files) != w.files {
					b.Fatalf("send: %v, %d files, %d failed", err, len(rep.Files), rep.Failed())
				}
				b.StopTimer()
				emptyFolder(b, inbox)
				b.StartTimer()
			}
		}
		b.Run(w.name+"/path=hub-relay", func(b *testing.B) {
			inbox := memoryDir(b)
			hubtest.DialRelay(b, h.Addr, hubtest.RelayConfig{Name: "bob-relay", Inbox: inbox})
			alice := hubtest.DialRelay(b, h.Addr, hubtest.RelayConfig{Name: "alice-relay"})
			each(b, inbox, func() (*transfer.Report, error) {
				return alice.Upload(ctx, m, transfer.SendOptions{To: "bob-relay"})
			})
		})
		b.Run(w.name+"/path=end-to-end", func(b *testing.B) {
			inbox := memoryDir(b)
			bob, err := client.Dial(ctx, h.Addr, client.Config{Name: "bob-e2e", Identity: bobID, Inbox: inbox, KeepParts: -1,
				OnOffer: func(protocol.Offer) client.Decision { return client.Accept }, Mux: hubtest.ClientConfig(h.Addr)})
			if err != nil {
				b.Fatal(err)
			}
			defer bob.Close()
			alice, err := client.Dial(ctx, h.Addr, client.Config{Name: "alice-e2e", Identity: aliceID, Mux: hubtest.ClientConfig(h.Addr)})
			if err != nil {
				b.Fatal(err)
			}
			defer alice.Close()
			each(b, inbox, func() (*transfer.Report, error) {
				return alice.Upload(ctx, m, transfer.SendOptions{To: "bob-e2e"})
			})
		})
	}
}

// bigFile writes size random bytes to dir/big.bin, a MiB at a time.
func bigFile(b *testing.B, dir string, size int64) int64 {
	f, err := os.Create(filepath.Join(dir, "big.bin"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		b.Fatal(err)
	}
	return size
}

// smallFiles writes n random files of size bytes in 50 folders of dir.
func smallFiles(b *testing.B, dir string, n, size int) int64 {
	buf := make([]byte, size)
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", i%50))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		rand.Read(buf)
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%04d", i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return int64(n * size)
}

// emptyFolder removes everything in dir.
func emptyFolder(b *testing.B, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			b.Fatal(err)
		}
	}
}
