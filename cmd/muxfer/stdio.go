package main

// Standard input as one file, for pipelines such as
// `tar c dir | muxfer send ADDR --stdin dir.tar`. It goes through a file
// on disk, because the machinery it reuses needs one: an offer states each
// file's size before its first byte, and a resume after a reconnect reads
// the sender's bytes again.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// flagSet reports whether the command line gave the flag called name,
// even with an empty value.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// sendStdin sends standard input to the hub at pos[0], or through it to
// --to, as one file called --stdin's NAME, once standard input has ended.
func (cf *clientFlags) sendStdin(e env, fs *flag.FlagSet, pos []string) error {
	if len(pos) > 1 {
		fs.Usage()
		return usageError{fmt.Sprintf("--stdin sends standard input, not PATHs: remove %q or --stdin", pos[1])}
	}
	if err := checkStdinName(*cf.stdin); err != nil {
		return err
	}
	u, err := cf.setup(e, fs, pos, 1, "ADDR")
	if err != nil {
		return err
	}
	if !u.json {
		u.line("* storing standard input in %s; the transfer starts when it ends", os.TempDir())
	}
	sp, err := spoolStdin(e.ctx, e.stdin)
	if err != nil {
		return err
	}
	defer sp.remove()
	u.event(map[string]any{"type": "stdin", "name": *cf.stdin, "bytes": sp.size},
		fmt.Sprintf("* read %s from standard input; sending it as %s", size(sp.size), safe(*cf.stdin)))
	return cf.deliver(e, u, pos[0], sp.manifest(*cf.stdin))
}

// checkStdinName refuses a NAME for --stdin that is not one safe file
// name: a receiver refuses what transfer.CheckPath refuses, and would make
// a folder of anything before a slash.
func checkStdinName(name string) error {
	switch {
	case name == "":
		return usageError{"--stdin needs a NAME: the name the file gets at the receiver"}
	case strings.ContainsAny(name, `/\`):
		return usageError{fmt.Sprintf("--stdin %q: NAME is a file name, without / or \\", name)}
	}
	if err := transfer.CheckPath(name); err != nil {
		return usageError{"--stdin: " + err.Error()}
	}
	return nil
}

// spool is standard input stored in a temporary file of this user's only.
type spool struct {
	path  string
	size  int64
	mtime int64 // the sender refuses to send the file if it changes
}

// spoolStdin copies stdin into a new file in os.TempDir() (os.CreateTemp
// makes it 0600) until stdin ends. If ctx ends first, or anything fails,
// the file is removed and spoolStdin returns the error.
func spoolStdin(ctx context.Context, stdin io.Reader) (*spool, error) {
	f, err := os.CreateTemp("", "muxfer-stdin-*")
	if err != nil {
		return nil, fmt.Errorf("storing standard input: %w", err)
	}
	copied := make(chan error, 1)
	// The copy ends when stdin does. If ctx ends first, it stays blocked in
	// Read until the process exits, as chat's reader does (a read from a
	// terminal or a pipe cannot be interrupted portably); its next write
	// then fails on the closed file.
	go func() {
		_, err := io.Copy(f, stdin)
		copied <- err
	}()
	select {
	case err = <-copied:
		if err != nil {
			err = fmt.Errorf("storing standard input in %s: %w", os.TempDir(), err)
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	var info os.FileInfo
	if err == nil {
		info, err = f.Stat()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("storing standard input in %s: %w", os.TempDir(), cerr)
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	return &spool{path: f.Name(), size: info.Size(), mtime: info.ModTime().UnixNano()}, nil
}

// manifest offers the spooled bytes as one file called name, which
// checkStdinName accepted, with the mode a new file usually gets rather
// than the spool's private one.
func (s *spool) manifest(name string) *transfer.Manifest {
	return &transfer.Manifest{
		Files: []protocol.File{{Path: name, Size: s.size, Mode: 0o644, MTime: s.mtime}},
		Local: []string{s.path},
	}
}

func (s *spool) remove() { os.Remove(s.path) }
