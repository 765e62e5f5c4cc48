package client_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
)

// BenchmarkHeld compares, in one run, the two halves of a transfer held
// for someone offline with the paths they wrap: leaving the files on the
// hub sealed for a person (send --to, away) against uploading them
// (send), and taking them (recv) against getting an upload back (get).
// The same hub, the same files, everything in /dev/shm when it exists
// (the sender's sealed copy too):
//
//	go test -run XXX -bench Held -benchtime 3x ./client
//
// MUXFER_BENCH_BIG sets the large file's size in MiB (default 1024).
func BenchmarkHeld(b *testing.B) {
	big := 1024
	if v := os.Getenv("MUXFER_BENCH_BIG"); v != "" {
		fmt.Sscan(v, &big)
	}
	workloads := []struct {
		name string
		make func(b *testing.B, dir string) int64
	}{
		{fmt.Sprintf("files=1x%dMiB", big), func(b *testing.B, dir string) int64 { return bigFile(b, dir, int64(big)<<20) }},
		{"files=5000x4KiB", func(b *testing.B, dir string) int64 { return smallFiles(b, dir, 5000, 4<<10) }},
	}
	// The sealed copy a send makes goes to the temporary folder: in
	// memory too, as the sources are.
	b.Setenv("TMPDIR", memoryDir(b))
	h := hubtest.Start(b, hub.Config{Dir: memoryDir(b)})
	aliceID, carolID := client.NewIdentity(), client.NewIdentity()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	carolOnce := connectBench(b, h.Addr, "carol", carolID, "")
	carolOnce.Close() // her name is hers
	alice := connectBench(b, h.Addr, "alice", aliceID, "")
	for _, w := range workloads {
		src := memoryDir(b)
		size := w.make(b, src)
		files, _, err := client.Paths(src)
		if err != nil {
			b.Fatal(err)
		}
		top := filepath.Base(src)
		b.Run(w.name+"/leave=upload", func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				if rep, err := alice.Send(ctx, files, client.SendOptions{}); err != nil || rep.Failed() > 0 {
					b.Fatalf("send: %v", err)
				}
				b.StopTimer()
				os.RemoveAll(filepath.Join(h.Dir, top))
				b.StartTimer()
			}
		})
		b.Run(w.name+"/leave=held", func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				if rep, err := alice.Send(ctx, files, client.SendOptions{To: "carol"}); err != nil || rep.Failed() > 0 {
					b.Fatalf("send to carol: %v", err)
				}
				b.StopTimer()
				list, _ := alice.Holds(ctx, "")
				for _, l := range list {
					alice.Holds(ctx, l.ID)
				}
				b.StartTimer()
			}
		})
		if rep, err := alice.Send(ctx, files, client.SendOptions{}); err != nil || rep.Failed() > 0 {
			b.Fatalf("send: %v", err)
		}
		b.Run(w.name+"/take=get", func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				dir := memoryDir(b)
				if rep, err := alice.Get(ctx, dir, []string{top}, client.GetOptions{}); err != nil || rep.Failed() > 0 {
					b.Fatalf("get: %v", err)
				}
				b.StopTimer()
				os.RemoveAll(dir)
				b.StartTimer()
			}
		})
		b.Run(w.name+"/take=held", func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				b.StopTimer()
				if rep, err := alice.Send(ctx, files, client.SendOptions{To: "carol"}); err != nil || rep.Failed() > 0 {
					b.Fatalf("send to carol: %v", err)
				}
				dir := memoryDir(b)
				b.StartTimer()
				carol := connectBench(b, h.Addr, "carol", carolID, dir)
				for ev := range carol.Events() {
					if d, ok := ev.(client.OfferDone); ok {
						if d.Failed > 0 || d.Cut {
							b.Fatalf("carol: %+v", d)
						}
						break
					}
				}
				carol.Close()
				b.StopTimer()
				os.RemoveAll(dir)
				b.StartTimer()
			}
		})
		os.RemoveAll(filepath.Join(h.Dir, top))
	}
}

// connectBench connects name with identity id, accepting offers into dir.
func connectBench(b *testing.B, addr, name string, id *client.Identity, dir string) *client.Session {
	b.Helper()
	s, err := client.Connect(context.Background(), addr, client.SessionConfig{Name: name, Identity: id, Dir: dir, NoReconnect: true,
		Key: hubtest.ClientConfig(addr).Key, Decide: func(client.Offer) client.Decision { return client.Accept }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
