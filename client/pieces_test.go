package client_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// longNames makes files files deep under long folder names in a new
// folder, so that their offer is split into several pieces (an offer
// must fit half a control frame), and returns the folder.
func longNames(t *testing.T, files int) string {
	t.Helper()
	root := t.TempDir()
	deep := filepath.Join(root, "tree")
	for i := range 10 {
		deep = filepath.Join(deep, fmt.Sprintf("%d%s", i, strings.Repeat("d", 240)))
	}
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		name := filepath.Join(deep, fmt.Sprintf("%04d%s", i, strings.Repeat("f", 200)))
		if err := os.WriteFile(name, []byte(fmt.Sprintf("file %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(root, "tree")
}

// TestSendInPiecesDeliversEveryFile: an offer too large for one frame
// goes in pieces, one after another; every file arrives, to the hub and
// to a person who accepts each piece, and a person who declines the
// first piece is not asked about the others.
func TestSendInPiecesDeliversEveryFile(t *testing.T) {
	src := longNames(t, 400)
	m := scan(t, src)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("to the hub", func(t *testing.T) {
		h := hubtest.Start(t, hub.Config{})
		alice := hubtest.Dial(t, h.Addr, "alice")
		rep, err := alice.Upload(ctx, m, transfer.SendOptions{})
		if err != nil || rep.Failed() != 0 || len(rep.Files) != 400 {
			t.Fatalf("Upload: %v; %d files reported, %d failed", err, len(rep.Files), rep.Failed())
		}
		hubtest.SameTree(t, src, filepath.Join(h.Dir, "tree"))
	})

	for name, answer := range map[string]client.Decision{"accepts": client.Accept, "declines": client.Decline} {
		t.Run("to a person who "+name, func(t *testing.T) {
			h := hubtest.Start(t, hub.Config{})
			var asked atomic.Int64
			inbox := filepath.Join(t.TempDir(), "inbox")
			hubtest.DialConfig(t, h.Addr, client.Config{Name: "bob", Inbox: inbox,
				OnOffer: func(protocol.Offer) client.Decision { asked.Add(1); return answer }})
			alice := hubtest.Dial(t, h.Addr, "alice")
			rep, err := alice.Upload(ctx, m, transfer.SendOptions{To: "bob"})
			if answer == client.Decline {
				if err == nil || !strings.Contains(err.Error(), "bob: declined") || asked.Load() != 1 {
					t.Errorf("Upload: %v, bob asked %d times; want declined, asked once", err, asked.Load())
				}
				if rep.Failed() != len(rep.Files) || len(rep.Files) != 400 {
					t.Errorf("report: %d files, %d failed; want all 400 not delivered", len(rep.Files), rep.Failed())
				}
				return
			}
			if err != nil || rep.Failed() != 0 {
				t.Fatalf("Upload: %v; %d failed", err, rep.Failed())
			}
			if asked.Load() < 3 {
				t.Errorf("bob was asked %d times, want one per piece (at least 3)", asked.Load())
			}
			hubtest.SameTree(t, src, filepath.Join(inbox, "tree"))
		})
	}
}
