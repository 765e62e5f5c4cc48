package transfer

import (
	"bytes"
	"testing"
)

// TestHashIsCanonicalXXH3_128: the digest on the wire is XXH3-128 in its
// canonical form (high half first), as protocol/README.md specifies, so
// that another implementation computes the same string; and a clone
// carries the state on independently of the original.
func TestHashIsCanonicalXXH3_128(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "xxh3-128:99aa06d3014798d86001c324468d497f"}, // the reference implementation's value
		{"hello", "xxh3-128:b5e9c1ad071b3e7fc779cfaa5e523818"},
	}
	for _, tt := range tests {
		h := newHash()
		h.Write([]byte(tt.in))
		if got := formatHash(h); got != tt.want {
			t.Errorf("hash of %q = %s, want %s", tt.in, got, tt.want)
		}
	}
	long := bytes.Repeat([]byte("0123456789abcdef"), 1<<12)
	whole := newHash()
	whole.Write(long)
	h := newHash()
	h.Write(long[:1000])
	c := h.Clone()
	h.Write([]byte("diverges"))
	c.Write(long[1000:])
	if formatHash(c) != formatHash(whole) {
		t.Error("a clone's hash differs from the hash of the same bytes")
	}
}
