package client_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/transfer"
)

// BenchmarkSessionSend compares, in one run, a Session's Send with the
// path it wraps, one connection's Upload: the same 32 MiB file to the same
// hub over loopback, stored in memory. What the Session adds (its events,
// waiting for its connection, the resume bookkeeping of a reconnecting
// send) should cost nothing the figure shows.
func BenchmarkSessionSend(b *testing.B) {
	h := hubtest.Start(b, hub.Config{Dir: memoryDir(b)})
	src, data := randomFile(b, 32<<20)
	files, _, err := client.Paths(src)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	each := func(b *testing.B, send func() (*client.Report, error)) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			rep, err := send()
			if err != nil || rep.Failed() != 0 {
				b.Fatalf("send: %v %+v", err, rep.Files)
			}
			b.StopTimer()
			os.Remove(filepath.Join(h.Dir, "big.bin"))
			b.StartTimer()
		}
	}
	b.Run("path=Client.Upload", func(b *testing.B) {
		c, err := client.Dial(ctx, h.Addr, client.Config{Name: "upload", Mux: hubtest.ClientConfig(h.Addr)})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		each(b, func() (*client.Report, error) { return c.Upload(ctx, files, transfer.SendOptions{}) })
	})
	b.Run("path=Session.Send", func(b *testing.B) {
		s, err := client.Connect(ctx, h.Addr, client.SessionConfig{Name: "session", Mux: hubtest.ClientConfig(h.Addr)})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		drained := make(chan struct{})
		go func() { // a caller that draws every event, as the commands do
			defer close(drained)
			for range s.Events() {
			}
		}()
		each(b, func() (*client.Report, error) { return s.Send(ctx, files, client.SendOptions{}) })
		s.Close()
		<-drained
	})
}
