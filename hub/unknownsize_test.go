package hub_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
)

// A key holder's data stream for a file of unknown size, written by hand
// as protocol/README.md describes it: a chunk length over 1 MiB, or a
// stream that ends before the chunk of length 0, is a cut file. The hub
// answers it with a failed result, stores nothing under the file's name,
// allocates nothing for the length it was told, and serves the session on;
// the README's own example is stored.
func TestHandMadeUnknownSizeStreamsAreCut(t *testing.T) {
	// The README's example, "hello" as one chunk, is stored.
	hello := append(binary.BigEndian.AppendUint32(nil, 5), "hello"...)
	hello = binary.BigEndian.AppendUint32(hello, 0)
	hello = binary.BigEndian.AppendUint32(hello, 52)
	hello = append(hello, `{"hash":"xxh3-128:b5e9c1ad071b3e7fc779cfaa5e523818"}`...)
	tests := []struct {
		name   string
		body   []byte // after the header
		stored bool
	}{
		{"hello as one chunk", hello, true},
		{"a chunk of 4 GiB - 1", binary.BigEndian.AppendUint32(nil, 0xffffffff), false},
		{"a chunk of 1 MiB + 1", binary.BigEndian.AppendUint32(nil, 1<<20+1), false},
		{"cut inside a chunk", append(binary.BigEndian.AppendUint32(nil, 10), "hello"...), false},
		{"cut between chunks", append(binary.BigEndian.AppendUint32(nil, 5), "hello"...), false},
	}
	h := hubtest.Start(t, hub.Config{})
	s, ctrl := rawSession(t, h.Addr)
	if err := sayHello(ctrl, "mallory"); err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "u" + string(rune('a'+i))
			name := id + ".bin"
			o := protocol.Offer{Transfer: id, Files: []protocol.File{{Path: name, Size: -1, Mode: 0o644}}}
			if err := protocol.WriteMessage(ctrl, o); err != nil {
				t.Fatal(err)
			}
			if m := until(t, "mallory", ctrl, "the answer to the offer", func(m protocol.Message) bool {
				_, acc := m.(protocol.Accept)
				_, rej := m.(protocol.Reject)
				return acc || rej
			}); m.Type() != "accept" {
				t.Fatalf("the offer of a file of unknown size: %+v, want accept", m)
			}
			st, err := s.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			if err := protocol.WriteHeader(st, protocol.DataHeader{Transfer: id}); err != nil {
				t.Fatal(err)
			}
			st.Write(tt.body)
			st.Close() // the stream ends here, whatever the chunk said
			res := until(t, "mallory", ctrl, "the file's result", func(m protocol.Message) bool {
				r, ok := m.(protocol.Result)
				return ok && r.Transfer == id
			}).(protocol.Result)
			if tt.stored {
				if b, err := os.ReadFile(filepath.Join(h.Dir, name)); res.Error != "" || err != nil || string(b) != "hello" {
					t.Errorf("result %+v, file %q (%v); want hello stored", res, b, err)
				}
				stillConnected(t, "mallory", ctrl)
				return
			}
			if res.Error == "" || res.Stored != "" {
				t.Errorf("result %+v, want a failed one", res)
			}
			if _, err := os.Lstat(filepath.Join(h.Dir, name)); !os.IsNotExist(err) {
				t.Errorf("%s exists under its final name (Lstat: %v)", name, err)
			}
			stillConnected(t, "mallory", ctrl)
		})
	}
}
