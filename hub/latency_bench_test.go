package hub_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// BenchmarkChatLatencyUnderLoad measures how long a chat line takes from
// a client that is uploading as fast as it can (its upload on the same
// connection) to another client, through the hub, over loopback. Each
// iteration is one line; ns/op is the mean, and p50/p99 are reported, with
// the upload's rate meanwhile.
func BenchmarkChatLatencyUnderLoad(b *testing.B) {
	for _, tt := range []struct {
		name string
		cfg  mux.Config
	}{
		{"paced frames", mux.Config{}},
		{"256KiB frames, no lowat", mux.Config{DataFrame: 256 << 10, NotSentLowat: 64 << 20}},
	} {
		b.Run(tt.name, func(b *testing.B) { benchmarkChatLatency(b, tt.cfg) })
	}
}

func benchmarkChatLatency(b *testing.B, cfg mux.Config) {
	dir := b.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		// Keep the disk out of it: the hub writes to memory.
		d, err := os.MkdirTemp("/dev/shm", "muxfer-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	h := hubtest.Start(b, noChatLimit(hub.Config{Dir: filepath.Join(dir, "hub"), Mux: cfg}))
	heard := make(chan string, 16)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg.Key = h.Key
	alice, err := client.Dial(ctx, h.Addr, client.Config{Name: "alice", Mux: cfg})
	if err != nil {
		b.Fatal(err)
	}
	defer alice.Close()
	bob, err := client.Dial(ctx, h.Addr, client.Config{Name: "bob", Mux: hubtest.ClientConfig(h.Addr), OnMessage: func(m protocol.Message) {
		if c, ok := m.(protocol.Chat); ok {
			heard <- c.Text
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer bob.Close()

	src := filepath.Join(dir, "big.bin")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	f.Truncate(256 << 20)
	f.Close()
	m, _, err := transfer.Scan(src)
	if err != nil {
		b.Fatal(err)
	}
	var sent sync.WaitGroup
	var moved atomic.Int64
	wrote := transfer.Observer{Wrote: func(n int) { moved.Add(int64(n)) }}
	upCtx, stopUpload := context.WithCancel(ctx)
	sent.Add(1)
	go func() {
		defer sent.Done()
		for upCtx.Err() == nil {
			// A new resume key each time: the file is sent in full.
			if _, err := alice.Upload(upCtx, m, transfer.SendOptions{Observer: wrote}); err != nil {
				return
			}
			os.Remove(filepath.Join(h.Dir, "big.bin"))
		}
	}()
	// Measure only once the upload is under way: 32 MiB sent.
	tick := time.NewTicker(time.Millisecond)
	for moved.Load() < 32<<20 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			b.Fatal("the upload never got going")
		}
	}
	tick.Stop()

	var lat []time.Duration
	start, before := time.Now(), moved.Load()
	i := 0
	typing := time.NewTicker(2 * time.Millisecond) // a person types; the upload runs on
	defer typing.Stop()
	for b.Loop() {
		i++
		t0 := time.Now()
		if err := alice.Chat(strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
		for got := ""; got != strconv.Itoa(i); {
			select {
			case got = <-heard:
			case <-ctx.Done():
				b.Fatal("line never arrived")
			}
		}
		lat = append(lat, time.Since(t0))
		<-typing.C
	}
	elapsed := time.Since(start)
	stopUpload()
	sent.Wait()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(moved.Load()-before)/elapsed.Seconds()/1e6, "upload-MB/s")
}
