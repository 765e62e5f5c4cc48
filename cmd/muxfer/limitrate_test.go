package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
)

func TestLimitRateRefusesWhatIsNotARate(t *testing.T) {
	closed := closedAddr(t) // never dialled: the flags are refused first
	tests := []struct {
		name string
		args []string
	}{
		{"send, unknown suffix", []string{"send", closed, "file", "--limit-rate", "10x"}},
		{"send, negative", []string{"send", closed, "file", "--limit-rate", "-1M"}},
		{"send, fraction", []string{"send", closed, "file", "--limit-rate", "1.5M"}},
		{"chat, unknown suffix", []string{"chat", closed, "--limit-rate", "10x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runCmd(t, "", tt.args...)
			if code != exitUsage || !strings.Contains(errs, "for flag --limit-rate: not a size") {
				t.Errorf("exit %d, want %d, and stderr to say the rate is not a size:\n%s", code, exitUsage, errs)
			}
		})
	}
}

// TestLimitRateSlowsSendAndChatUploads: with --limit-rate 1M, a send and a
// chat's /upload each deliver their file, and neither finishes sooner than
// 1 MiB/s allows once the first burst (1/20 s of the rate) has gone.
func TestLimitRateSlowsSendAndChatUploads(t *testing.T) {
	const size, rate, burst = 384 << 10, 1 << 20, (1<<20 + 19) / 20
	least := time.Duration(size-burst)*time.Second/rate - 10*time.Millisecond
	tests := []struct {
		name string
		chat bool // upload with /upload in a chat, not with send
	}{
		{"send", false},
		{"chat /upload", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hubtest.Start(t, hub.Config{})
			dir := t.TempDir()
			file := filepath.Join(dir, "big.bin")
			if err := os.WriteFile(file, []byte(strings.Repeat("x", size)), 0o644); err != nil {
				t.Fatal(err)
			}
			stdin, args := "", []string{"send", h.Addr, file, "--limit-rate", "1M", "--progress", "never"}
			if tt.chat {
				stdin, args = "/upload '"+file+"'\n", []string{"chat", h.Addr, "--limit-rate", "1M", "--json"}
			}
			start := time.Now()
			code, out, errs := runCmd(t, stdin, args...)
			elapsed := time.Since(start)
			if code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, errs, out)
			}
			hubtest.SameTree(t, file, filepath.Join(h.Dir, "big.bin"))
			if elapsed < least {
				t.Errorf("%d bytes at --limit-rate 1M took %s, want at least %s", size, elapsed, least)
			}
		})
	}
}
