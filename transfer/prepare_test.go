package transfer

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/muxfer/muxfer/protocol"
)

// An offer that is refused leaves nothing behind: whichever check refuses
// it, no folder of it is created, none that existed is removed, and no
// space stays promised.
func TestRefusedOfferLeavesNothingBehind(t *testing.T) {
	folders := []protocol.File{
		{Path: "keep/new", Dir: true, Mode: 0o755},
		{Path: "new", Dir: true, Mode: 0o755},
		{Path: "new/sub", Dir: true, Mode: 0o700},
		{Path: "new/sub/f", Size: 10, Mode: 0o644},
	}
	eio := &fs.PathError{Op: "mkdirat", Path: "z/y", Err: syscall.EIO}
	tests := []struct {
		name   string
		extra  []protocol.File // after the folders
		limits Limits
		free   int64
		mkdir  func(root *os.Root, name string, perm fs.FileMode) error // nil: root.Mkdir
		want   string
		stays  []string // folders that mkdir made as someone else
	}{
		{"unsafe path", []protocol.File{{Path: "../x"}}, Limits{}, 1 << 40, nil, `"../x"`, nil},
		{"names that collide", []protocol.File{{Path: "NEW/SUB/F"}}, Limits{}, 1 << 40, nil, `"NEW/SUB/F"`, nil},
		{"too many entries", nil, Limits{MaxFiles: 3}, 1 << 40, nil, "offer of 4 entries is over the limit of 3", nil},
		{"too many bytes", nil, Limits{MaxBytes: 9}, 1 << 40, nil, "offer of 10 B is over the limit of 9 B", nil},
		{"not enough free space", nil, Limits{Reserve: -1}, 9, nil, "offer needs 10 B but only 9 B is free", nil},
		{"a planted link", []protocol.File{{Path: "evil/x"}}, Limits{}, 1 << 40, nil, `"evil" is a symbolic link`, nil},
		{"a file where a folder must be", []protocol.File{{Path: "plain/sub", Dir: true}}, Limits{}, 1 << 40, nil, `"plain" is a file, not a folder`, nil},
		{"a folder that cannot be created", []protocol.File{{Path: "z/y", Dir: true}}, Limits{}, 1 << 40,
			func(root *os.Root, name string, perm fs.FileMode) error {
				if name == "z/y" {
					return eio
				}
				return root.Mkdir(name, perm)
			}, "create folder z/y: input/output error", nil},
		{"a folder that another offer made meanwhile stays", []protocol.File{{Path: "z/y", Dir: true}}, Limits{}, 1 << 40,
			func(root *os.Root, name string, perm fs.FileMode) error {
				switch name {
				case "z/y":
					return eio
				case "new":
					root.Mkdir(name, perm) // as if another offer got there first
					return &fs.PathError{Op: "mkdirat", Path: name, Err: syscall.EEXIST}
				}
				return root.Mkdir(name, perm)
			}, "create folder z/y", []string{"new/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLinkSite(t)
			writeTree(t, s.dir, map[string]string{"keep/": "", "plain": "a file"})
			s.plant(t, "evil", folderInside)
			s.r.Limits = tt.limits
			withFreeSpace(s.r, tt.free)
			if tt.mkdir != nil {
				root := s.r.root
				s.r.mkdir = func(name string, perm fs.FileMode) error { return tt.mkdir(root, name, perm) }
			}
			before := append(listTree(t, s.dir), tt.stays...)
			slices.Sort(before)
			_, err := s.r.Prepare(protocol.Offer{Transfer: "t1", Files: append(append([]protocol.File{}, folders...), tt.extra...)})
			if err == nil {
				t.Fatal("Prepare accepted the offer")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Prepare error %q, want it to contain %q", err, tt.want)
			}
			if got := listTree(t, s.dir); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Errorf("after the refusal the target holds\n%q\nwant, as before,\n%q", got, before)
			}
			if p := s.r.Promised(); p != 0 {
				t.Errorf("%d bytes still promised", p)
			}
		})
	}
}

// A folder listed in the offer gets its entry's mode; a folder above it
// that the offer does not list gets 0755; one that exists keeps its mode.
func TestPrepareGivesListedAndUnlistedFoldersTheirModes(t *testing.T) {
	mask := umask(t)
	r, dir := newTestReceiver(t)
	if err := os.Mkdir(filepath.Join(dir, "old"), 0o700); err != nil {
		t.Fatal(err)
	}
	prepare(t, r, "t1",
		protocol.File{Path: "x/y/z", Dir: true, Mode: 0o750},
		protocol.File{Path: "x", Dir: true, Mode: 0o700}, // listed after its child
		protocol.File{Path: "old", Dir: true, Mode: 0o777})
	for p, want := range map[string]fs.FileMode{"x": 0o700, "x/y": 0o755 &^ mask, "x/y/z": 0o750 &^ mask, "old": 0o700} {
		info, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode() != fs.ModeDir|want {
			t.Errorf("%s: mode %v, want %v", p, info.Mode(), fs.ModeDir|want)
		}
	}
}
