package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

var framePayloads = []struct {
	name string
	size int
}{
	{"16B", 16},
	{"64KiB", 64 << 10},
}

func BenchmarkWriteFrame(b *testing.B) {
	for _, p := range framePayloads {
		b.Run(p.name, func(b *testing.B) {
			payload := bytes.Repeat([]byte{'x'}, p.size)
			b.ReportAllocs()
			b.SetBytes(int64(p.size))
			for b.Loop() {
				if err := WriteFrame(io.Discard, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadFrame(b *testing.B) {
	for _, p := range framePayloads {
		b.Run(p.name, func(b *testing.B) {
			data := frame(uint32(p.size), string(bytes.Repeat([]byte{'x'}, p.size)))
			r := bytes.NewReader(data)
			b.ReportAllocs()
			b.SetBytes(int64(p.size))
			for b.Loop() {
				r.Reset(data)
				if _, err := ReadFrame(r, MaxControlFrame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchMessages are a typical chat line and a large offer.
func benchMessages() []struct {
	name string
	m    Message
} {
	files := make([]File, 1000)
	for i := range files {
		files[i] = File{Path: fmt.Sprintf("photos/2024/holiday/IMG_%04d.jpg", i), Size: 3 << 20, Mode: 0o644, MTime: 1700000000123456789}
	}
	return []struct {
		name string
		m    Message
	}{
		{"Chat", Chat{From: "alice", FromID: 7, Text: "the build is green, shipping it"}},
		{"Offer1000Files", Offer{Transfer: "5f0c2a9e1b7d4c3a8e6f0b1d2c3e4f5a", Files: files}},
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, bm := range benchMessages() {
		b.Run(bm.name, func(b *testing.B) {
			enc, _ := Encode(bm.m)
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			for b.Loop() {
				if _, err := Encode(bm.m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, bm := range benchMessages() {
		enc, err := Encode(bm.m)
		if err != nil {
			b.Fatal(err)
		}
		// The same message as another encoder may write it, which Decode
		// reads with encoding/json.
		var indented bytes.Buffer
		if err := json.Indent(&indented, enc, "", "  "); err != nil {
			b.Fatal(err)
		}
		for _, form := range []struct {
			name string
			msg  []byte
		}{{"", enc}, {"Indented", indented.Bytes()}} {
			b.Run(bm.name+form.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(form.msg)))
				for b.Loop() {
					if _, err := Decode(form.msg); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDecodeOverLimit refuses messages whose lists are longer than
// MaxOfferFiles (maxfiles_test.go).
func BenchmarkDecodeOverLimit(b *testing.B) {
	for _, bm := range overLimit(b) {
		b.Run(strings.ReplaceAll(bm.name, " ", "_"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bm.msg)))
			for b.Loop() {
				if _, err := Decode(bm.msg); !errors.Is(err, ErrTooManyFiles) {
					b.Fatal(err)
				}
			}
		})
	}
}
