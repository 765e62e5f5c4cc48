package transfer

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/muxfer/muxfer/protocol"
)

// TestReceiveOpensEachFolderOnceAndClosesAll: files spread over more
// folders than a transfer keeps open all arrive in the right folder, at
// most maxOpenFolders folders stay open while files are left, and none
// once every file has ended, whether stored, failed or given up.
func TestReceiveOpensEachFolderOnceAndClosesAll(t *testing.T) {
	const dirs, perDir = 3 * maxOpenFolders, 2
	for _, end := range []string{"all stored", "last given up"} {
		t.Run(end, func(t *testing.T) {
			r, root := newTestReceiver(t)
			var files []protocol.File
			for d := range dirs {
				for f := range perDir {
					content := fmt.Appendf(nil, "file %d of folder %d", f, d)
					files = append(files, protocol.File{Path: fmt.Sprintf("top/d%02d/f%d", d, f), Size: int64(len(content)), Mode: 0o644})
				}
			}
			in := prepare(t, r, "t", files...)
			last := len(files)
			if end == "last given up" {
				last--
			}
			for i := range last {
				content := fmt.Appendf(nil, "file %d of folder %d", i%perDir, i/perDir)
				res, err := in.Receive(protocol.DataHeader{Transfer: "t", File: i}, dataStream(t, content, hashOf(content)))
				if err != nil || res.Error != "" {
					t.Fatalf("file %d: %v %s", i, err, res.Error)
				}
				got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(files[i].Path)))
				if err != nil || string(got) != string(content) {
					t.Fatalf("file %d: read %q, %v; want %q", i, got, err, content)
				}
				if open := in.dirs.live.Load(); open > maxOpenFolders {
					t.Fatalf("%d folders open after file %d, at most %d may be", open, i, maxOpenFolders)
				}
			}
			if last < len(files) {
				in.Abandon()
			}
			if !in.Done() {
				t.Fatal("files left after every file ended")
			}
			if open := in.dirs.live.Load(); open != 0 {
				t.Errorf("%d folders still open after every file ended", open)
			}
		})
	}
}
