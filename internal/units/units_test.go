package units

import (
	"math"
	"testing"
)

func TestBytesUsesBinaryUnitsWithIECNames(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{64 << 20, "64.0 MiB"},
		{1<<20 - 1, "1.0 MiB"}, // not "1024.0 KiB"
		{1<<30 - 1, "1.0 GiB"},
		{5<<30 + 1<<30/5, "5.2 GiB"},
		{math.MaxInt64, "8.0 EiB"},
	}
	for _, tt := range tests {
		if got := Bytes(tt.n); got != tt.want {
			t.Errorf("Bytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
