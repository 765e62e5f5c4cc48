package transfer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/muxfer/muxfer/protocol"
)

// BenchmarkReceive measures the receiver alone: hashing, writing, syncing
// and placing one 64 MiB file that arrives from memory.
func BenchmarkReceive64MiB(b *testing.B) {
	const size = 64 << 20
	content := randomBytes(size, 1)
	var trailer bytes.Buffer
	if err := protocol.WriteTrailer(&trailer, protocol.Trailer{Hash: hashOf(content)}); err != nil {
		b.Fatal(err)
	}
	r, dir := newTestReceiver(b)
	b.ReportAllocs()
	b.SetBytes(size)
	n := 0
	for b.Loop() {
		id := fmt.Sprintf("t%d", n)
		n++
		in, err := r.Prepare(protocol.Offer{Transfer: id, Files: []protocol.File{{Path: "big.bin", Size: size, Mode: 0o644}}})
		if err != nil {
			b.Fatal(err)
		}
		src := io.MultiReader(bytes.NewReader(content), bytes.NewReader(trailer.Bytes()))
		res, err := in.Receive(protocol.DataHeader{Transfer: id}, src)
		if err != nil || res.Error != "" {
			b.Fatalf("Receive = %+v, %v", res, err)
		}
		b.StopTimer()
		if err := os.Remove(filepath.Join(dir, res.Stored)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// benchmarkSend sends the files given by tree over a loopback session pair
// once per iteration, removing what arrived between iterations.
func benchmarkSend(b *testing.B, tree map[string]string, arg string) {
	src := b.TempDir()
	writeTree(b, src, tree)
	m := scan(b, filepath.Join(src, arg))
	c, h := startPair(b, hubOptions{})
	_, size := m.Totals()
	b.ReportAllocs()
	b.SetBytes(size)
	for b.Loop() {
		rep, err := Send(context.Background(), c, m, SendOptions{})
		if err != nil || rep.Failed() != 0 {
			b.Fatalf("Send: %v, %d failed", err, rep.Failed())
		}
		b.StopTimer()
		if err := os.RemoveAll(filepath.Join(h.dir, arg)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func BenchmarkSendReceive64MiB(b *testing.B) {
	benchmarkSend(b, map[string]string{"big.bin": string(randomBytes(64<<20, 2))}, "big.bin")
}

func BenchmarkSendReceive1000Files4KiB(b *testing.B) {
	tree := map[string]string{}
	for i := range 1000 {
		tree[fmt.Sprintf("many/f%04d.bin", i)] = string(randomBytes(4<<10, uint64(i)))
	}
	benchmarkSend(b, tree, "many")
}
