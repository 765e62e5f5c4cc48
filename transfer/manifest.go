// Package transfer moves files over a mux.Session: it walks local paths
// into an offer, sends each file on its own data stream with a hash, and on
// the receiving side checks every offered path, writes each file to a
// temporary ".part" inside an os.Root, verifies it, and only then gives it
// its final name.
package transfer

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"

	"github.com/muxfer/muxfer/protocol"
)

// Manifest is what a sender offers: the entries in protocol form and, for
// each, the local file it comes from.
type Manifest struct {
	Files []protocol.File
	Local []string // Local[i] is the source of Files[i]

	pipes map[string]*pipe // by path: files of unknown size, read from a reader (FromReader)
	root  *os.Root         // if set, Local holds paths inside it, opened through it (InRoot)
}

// InRoot returns the manifest of files kept inside root, for a sender
// that serves what it stores (a hub answering a get): Files[i] is read
// from local[i], a path relative to root with "/" separators, opened
// through root so that no link or ".." leads outside it. Each file is
// sent only if it still has the size and mtime of Files[i].
func InRoot(root *os.Root, files []protocol.File, local []string) *Manifest {
	return &Manifest{Files: files, Local: local, root: root}
}

// fileSource is where a file of a manifest is read from: a local path,
// or a path inside root.
type fileSource struct {
	root *os.Root
	path string
}

func (s fileSource) open() (*os.File, error) {
	if s.root != nil {
		return s.root.Open(s.path)
	}
	return os.Open(s.path)
}

// source says where file i is read from.
func (m *Manifest) source(i int) fileSource { return fileSource{root: m.root, path: m.Local[i]} }

func (m *Manifest) add(local string, f protocol.File) {
	m.Files = append(m.Files, f)
	m.Local = append(m.Local, local)
}

// Totals returns the number of regular files and their total size.
func (m *Manifest) Totals() (files int, bytes int64) {
	for _, f := range m.Files {
		if !f.Dir {
			files++
			bytes += max(f.Size, 0) // a file of unknown size counts nothing
		}
	}
	return files, bytes
}

// split cuts the manifest into pieces whose offers fit well inside one
// control frame. Each piece is sent as a transfer of its own.
func (m *Manifest) split() []*Manifest {
	// Half a frame, less room for the offer around the entries.
	const budget = protocol.MaxControlFrame/2 - 256
	var out []*Manifest
	cur, size := &Manifest{pipes: m.pipes, root: m.root}, 0
	for i, f := range m.Files {
		n := fileJSONLen(f) + 1
		if len(cur.Files) > 0 && (size+n > budget || len(cur.Files) >= MaxFiles) {
			out = append(out, cur)
			cur, size = &Manifest{pipes: m.pipes, root: m.root}, 0
		}
		cur.add(m.Local[i], f)
		size += n
	}
	if len(cur.Files) > 0 || len(out) == 0 {
		out = append(out, cur)
	}
	return out
}

// fileJSONLen is len(json.Marshal(f)), counted without encoding f: for
// 5,000 small files the encoding was 3% of the sender's CPU, spent before
// the first byte is sent.
func fileJSONLen(f protocol.File) int {
	n := len(`{"path":,"size":,"mode":,"mtime":}`) + jsonStringLen(f.Path) +
		len(strconv.FormatInt(f.Size, 10)) + len(strconv.FormatUint(uint64(f.Mode), 10)) + len(strconv.FormatInt(f.MTime, 10))
	if f.Dir {
		n += len(`,"dir":true`)
	}
	if f.Resume != "" {
		n += len(`,"resume":`) + jsonStringLen(f.Resume)
	}
	return n
}

// jsonStringLen is the length of s encoded by encoding/json.
func jsonStringLen(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || strings.IndexByte(`"\\<>&`, c) >= 0 {
			b, _ := json.Marshal(s) // escapes, or HTML's characters, or UTF-8: let it count
			return len(b)
		}
	}
	return len(s) + 2
}

// withTokens returns a copy of m whose regular files carry their resume
// tokens under key.
func (m *Manifest) withTokens(key []byte) *Manifest {
	out := &Manifest{Files: make([]protocol.File, len(m.Files)), Local: m.Local, pipes: m.pipes, root: m.root}
	mac := newTokenMAC(key)
	for i, f := range m.Files {
		if !f.Dir && f.Size != protocol.UnknownSize { // a pipe is never resumed
			f.Resume = mac.token(f)
		}
		out.Files[i] = f
	}
	return out
}

// Only returns the folders of m and those of its files for which keep
// returns true: what is left to send after a part of m arrived. Folders
// are kept because offering one again costs nothing, and an empty one
// may not have arrived.
func (m *Manifest) Only(keep func(path string) bool) *Manifest {
	out := &Manifest{pipes: m.pipes, root: m.root}
	for i, f := range m.Files {
		if f.Dir || keep(f.Path) {
			out.add(m.Local[i], f)
		}
	}
	return out
}
