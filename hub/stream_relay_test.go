package hub_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/transfer"
)

// TestFileOfUnknownSizeIsStoredAndRelayed: a file read from a reader,
// whose size nobody knows, arrives chunked: the hub stores it, and
// relays it to another client, byte for byte.
func TestFileOfUnknownSizeIsStoredAndRelayed(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	inbox := filepath.Join(t.TempDir(), "inbox")
	hubtest.DialRelay(t, h.Addr, hubtest.RelayConfig{Name: "bob", Inbox: inbox})
	alice := hubtest.DialRelay(t, h.Addr, hubtest.RelayConfig{Name: "alice"})
	content := make([]byte, 3<<20+5)
	rand.NewChaCha8([32]byte{1}).Read(content)

	for _, to := range []string{"", "bob"} {
		t.Run("to "+to, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			m := transfer.FromReader("in.tar", "standard input", bytes.NewReader(content), 0o644, 0)
			rep, err := alice.Upload(ctx, m, transfer.SendOptions{To: to})
			if err != nil || rep.Failed() != 0 || rep.Bytes != int64(len(content)) {
				t.Fatalf("Upload: %v, %d bytes, report %+v", err, rep.Bytes, rep.Files)
			}
			dir := h.Dir
			if to != "" {
				dir = inbox
			}
			got, err := os.ReadFile(filepath.Join(dir, rep.Files[0].Stored))
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("%s holds %d bytes (%v), want %d", rep.Files[0].Stored, len(got), err, len(content))
			}
		})
	}
}
