package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGCSetsTheCollectorUnlessTheEnvironmentDoes(t *testing.T) {
	percent := debug.SetGCPercent(100)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	tests := []struct {
		name        string
		env         map[string]string
		args        []string
		wantPercent int
		wantLimit   int64
	}{
		{"a client", nil, []string{"send", "a", "b"}, 400, 48 << 20},
		{"a hub", nil, []string{"serve", "--dir", "x"}, 400, 192 << 20},
		{"GOGC set", map[string]string{"GOGC": "100"}, []string{"send"}, 100, 48 << 20},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, []string{"serve"}, 400, 1 << 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(1 << 30) // stands for the environment's
			tuneGC(func(k string) string { return tt.env[k] }, tt.args)
			if got := debug.SetGCPercent(100); got != tt.wantPercent {
				t.Errorf("GC percent %d, want %d", got, tt.wantPercent)
			}
			if got := debug.SetMemoryLimit(-1); got != tt.wantLimit {
				t.Errorf("memory limit %d, want %d", got, tt.wantLimit)
			}
		})
	}
}
