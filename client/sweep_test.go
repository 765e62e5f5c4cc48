package client_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
)

// A client removes the parts of files cut on their way into its inbox
// once they are older than KeepParts, as the hub does with its uploads'
// parts; fresh parts, and files that are not parts, stay.
func TestClientSweepsOldPartsOfItsInbox(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	inbox := t.TempDir()
	old := time.Now().Add(-3 * time.Hour)
	files := []struct {
		path  string
		old   bool
		stays bool
	}{
		{"deep/down/.muxfer-0123456789abcdef.part", true, false},
		{".muxfer-fedcba9876543210.part", true, false},
		{"fresh/.muxfer-00112233445566aa.part", false, true},
		{"kept/old.txt", true, true},
		{"kept/.muxfer-notes.txt", true, true},
	}
	for _, f := range files {
		p := filepath.Join(inbox, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("part"), 0o644); err != nil {
			t.Fatal(err)
		}
		if f.old {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	hubtest.DialConfig(t, h.Addr, client.Config{Name: "bob", Inbox: inbox, KeepParts: time.Hour})
	gone := func(p string) bool {
		_, err := os.Stat(filepath.Join(inbox, p))
		return os.IsNotExist(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !gone(files[0].path) || !gone(files[1].path) {
		if time.Now().After(deadline) {
			t.Fatal("the old parts are still there")
		}
		<-tick.C
	}
	for _, f := range files {
		if f.stays && gone(f.path) {
			t.Errorf("%s was removed", f.path)
		}
	}
}
