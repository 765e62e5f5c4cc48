package transfer

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/muxfer/muxfer/protocol"
)

func TestFileJSONLenIsTheLengthEncodingJSONWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	pieces := []string{"a", "photos/", "IMG 0001.jpg", `"`, `\`, "<", "&", ">", "\n", "\x01", "\x7f", "é", "日本", "\xff", "\u2028"}
	for range 20000 {
		var path string
		for range r.IntN(6) {
			path += pieces[r.IntN(len(pieces))]
		}
		f := protocol.File{Path: path, Size: r.Int64N(1 << 40), Mode: uint32(r.IntN(0o1000)), MTime: r.Int64() - r.Int64(), Dir: r.IntN(2) == 0}
		if r.IntN(2) == 0 {
			f.Resume = "0123456789abcdef0123456789abcdef"
		}
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := fileJSONLen(f); got != len(b) {
			t.Fatalf("%+v: counted %d, encoding/json wrote %d: %s", f, got, len(b), b)
		}
	}
}
