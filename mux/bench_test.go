package mux_test

import (
	"context"
	"io"
	"testing"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// BenchmarkDataStream measures one data stream's throughput over loopback
// TCP with the default configuration: the ceiling for a single file.
func BenchmarkDataStream(b *testing.B) {
	cli, hub := pair(b, mux.Config{})
	chunk := make([]byte, 256<<10)
	const perOp = 64 << 20
	b.SetBytes(perOp)
	b.ReportAllocs()
	drained := make(chan error, 1)
	go func() {
		in, err := hub.AcceptData(context.Background())
		if err == nil {
			_, err = in.ReadHeader()
		}
		if err == nil {
			_, err = io.Copy(io.Discard, in)
		}
		drained <- err
	}()
	st, err := cli.OpenData(context.Background(), protocol.DataHeader{Transfer: "b", File: 0})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		for n := 0; n < perOp; n += len(chunk) {
			if _, err := st.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
	}
	st.Close()
	if err := <-drained; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkControlRoundTrip measures a chat message's round trip on an
// idle session.
func BenchmarkControlRoundTrip(b *testing.B) {
	cli, hub := pair(b, mux.Config{})
	b.ReportAllocs()
	for b.Loop() {
		if err := cli.Send(protocol.Chat{Text: "ping"}); err != nil {
			b.Fatal(err)
		}
		if _, err := hub.Recv(); err != nil {
			b.Fatal(err)
		}
	}
}
