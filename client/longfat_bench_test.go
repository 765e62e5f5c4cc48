package client_test

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/transfer"
)

// BenchmarkLongFatLink sends one file on one stream through a proxy that
// limits the link to 100 Mbit/s with a 50 ms round trip, and reports the
// share of the link it used. The bandwidth-delay product is 625 kB: with
// yamux's default window of 256 KiB a stream can use at most about 42% of
// the link; muxfer's window, 1 MiB after a handshake that took this long,
// leaves it the whole link.
func BenchmarkLongFatLink(b *testing.B) {
	for _, tt := range []struct {
		name   string
		window uint32
	}{
		{"window=muxfer(1MiB)", 0},
		{"window=2MiB", 2 << 20},
		{"window=256KiB(yamux default)", 256 << 10},
	} {
		b.Run(tt.name, func(b *testing.B) { benchmarkLongFatLink(b, tt.window) })
	}
}

func benchmarkLongFatLink(b *testing.B, window uint32) {
	const rate = 12.5e6 // bytes per second: 100 Mbit/s
	cfg := mux.Config{StreamWindow: window}
	h := hubtest.Start(b, hub.Config{Mux: cfg, Dir: memoryDir(b)})
	proxy := hubtest.StartProxy(b, h.Addr)
	proxy.SetRate(rate)
	proxy.SetLatency(25 * time.Millisecond)
	src, data := randomFile(b, 48<<20)
	m, _, err := transfer.Scan(src)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg.Key = h.Key
	c, err := client.Dial(ctx, proxy.Addr, client.Config{Name: "far", Mux: cfg})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.SetBytes(int64(len(data)))
	var took time.Duration
	for b.Loop() {
		start := time.Now()
		rep, err := c.Upload(ctx, m, transfer.SendOptions{Parallel: 1})
		if err != nil || rep.Failed() != 0 {
			b.Fatalf("Upload: %v %+v", err, rep.Files)
		}
		took += time.Since(start)
		b.StopTimer()
		os.Remove(filepath.Join(h.Dir, "big.bin"))
		b.StartTimer()
	}
	b.ReportMetric(100*float64(len(data))*float64(b.N)/took.Seconds()/rate, "%link")
}

// memoryDir is a folder for a benchmark's hub in /dev/shm where there is
// one, to keep the disk's fsync out of the figure, and otherwise on disk.
func memoryDir(b *testing.B) string {
	d, err := os.MkdirTemp("/dev/shm", "muxfer-bench-")
	if err != nil {
		return b.TempDir()
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// randomFile writes size random bytes to big.bin in a folder of the
// benchmark's, and returns its path and contents.
func randomFile(b *testing.B, size int) (string, []byte) {
	src := filepath.Join(b.TempDir(), "big.bin")
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return src, data
}
