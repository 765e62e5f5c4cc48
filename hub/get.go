package hub

// Get: the hub sends a client files it stores, as a sender sends an
// upload, with the client as the receiver (see files.go for what it may
// read).

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/muxfer/muxfer/internal/atomicfile"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// SecretFile holds the hub's secret for the resume tokens of the files
// clients get, so that a get cut by a restart of the hub resumes.
const SecretFile = ".muxfer-secret"

// Bounds of gets per client.
const (
	maxGets        = 4  // gets one client runs at once
	maxGetParallel = 16 // files one get sends at once
)

// loadSecret reads SecretFile, making it first if there is none. On an
// error it returns a new random secret, good for this run.
func loadSecret(root *os.Root) ([]byte, error) {
	b, err := root.ReadFile(SecretFile)
	if err == nil && len(b) == 32 {
		return b, nil
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	return secret, atomicfile.ReplaceIn(root, SecretFile, secret)
}

// getKey is the resume key of the files the client with identity gets:
// its own, so that the tokens one client sees work for nobody else.
func (h *Hub) getKey(identity string) []byte {
	h.secretOnce.Do(func() {
		var err error
		if h.getSecret, err = loadSecret(h.root); err != nil {
			h.log.Warn("cannot keep a secret for resuming gets across restarts", "file", SecretFile, "err", err)
		}
	})
	m := hmac.New(sha256.New, h.getSecret)
	m.Write([]byte("muxfer get\x00" + identity))
	return m.Sum(nil)
}

// getManifest builds what a get of paths sends to the client with
// identity: each path as scp -r names it (a folder "a/b" arrives as "b"
// and everything under it; "" sends the top's entries under their own
// names), with only what the client may read.
func (h *Hub) getManifest(identity string, paths []string) (*transfer.Manifest, *findError) {
	var files []protocol.File
	var local []string
	tops := map[string]string{}
	for _, want := range paths {
		p, ferr := cleanRequest(want)
		if ferr != nil {
			return nil, ferr
		}
		list, truncated, ferr := h.find(identity, p, true)
		if ferr != nil {
			return nil, ferr
		}
		if truncated || len(files)+len(list)+1 > maxFound {
			return nil, &findError{protocol.CodeLimit, fmt.Sprintf("more than %d files and folders: get fewer at once", maxFound)}
		}
		if p != "" && !(len(list) == 1 && list[0].path == p) { // a folder: it comes first
			info, err := h.root.Lstat(p)
			if err != nil {
				return nil, notFound(p)
			}
			list = append([]found{{path: p, info: info}}, list...)
		}
		for _, f := range list {
			name := f.path // the top's entries arrive under their own names
			if p != "" {
				name = path.Base(p) + strings.TrimPrefix(f.path, p)
			}
			if top, _, _ := strings.Cut(name, "/"); top == name {
				key := strings.ToLower(top)
				if prev, dup := tops[key]; dup {
					return nil, &findError{protocol.CodeBadMessage, fmt.Sprintf("%q and %q would both arrive as %q", prev, want, top)}
				}
				tops[key] = want
			}
			if transfer.CheckPath(name) != nil {
				continue // a name the operator gave that a receiver refuses
			}
			e := protocol.File{Path: name, Mode: uint32(f.info.Mode().Perm()), MTime: f.info.ModTime().UnixNano()}
			if f.info.IsDir() {
				e.Dir = true
			} else {
				e.Size = f.info.Size()
			}
			files = append(files, e)
			local = append(local, f.path)
		}
	}
	return transfer.InRoot(h.root, files, local), nil
}

// get answers a Get: it sends the files as offers whose Get is the
// request's ID, on a goroutine of the peer's, and Got once the client
// has answered for every file.
func (p *peer) get(g protocol.Get) {
	id := protocol.Clip(g.ID, 64)
	refuse := func(code, text string) { p.answer(protocol.Got{ID: id, Code: code, Error: text}) }
	p.mu.Lock()
	n, dup := len(p.gets), p.gets[id]
	p.mu.Unlock()
	switch {
	case p.h.isDraining():
		refuse(protocol.CodeShutdown, "hub is shutting down")
		return
	case len(g.Paths) == 0:
		refuse(protocol.CodeBadMessage, "a get names no file or folder")
		return
	case !p.offers.Allow():
		refuse(protocol.CodeBusy, fmt.Sprintf("more than %d requests a second: ask again shortly", p.h.cfg.OffersPerSecond))
		return
	case dup:
		refuse(protocol.CodeBadMessage, "get id already in use")
		return
	case n >= maxGets:
		refuse(protocol.CodeBusy, fmt.Sprintf("more than %d gets at once: ask again when one is done", maxGets))
		return
	}
	var m *transfer.Manifest
	var ferr *findError
	if g.Hold != "" {
		m, ferr = p.h.holdManifest(g.Hold, p.info.Identity, g.Paths)
	} else {
		m, ferr = p.h.getManifest(p.info.Identity, g.Paths)
	}
	if ferr != nil {
		refuse(ferr.code, ferr.text)
		return
	}
	if err := p.takeEntries(len(m.Files)); err != nil {
		refuse(protocol.CodeBusy, err.Error())
		return
	}
	files, bytes := m.Totals()
	p.mu.Lock()
	p.gets[id] = true
	p.mu.Unlock()
	parallel := g.Parallel
	if parallel <= 0 {
		parallel = 4
	}
	parallel = min(parallel, maxGetParallel)
	p.getWG.Go(func() {
		defer func() {
			p.releaseEntries(len(m.Files))
			p.mu.Lock()
			delete(p.gets, id)
			p.mu.Unlock()
			p.h.transferEnded()
		}()
		rep, err := transfer.Send(p.ctx, getConn{p}, m, transfer.SendOptions{Parallel: parallel, Get: id,
			ResumeKey: p.h.getKey(p.info.Identity)})
		got := protocol.Got{ID: id, Files: files, Bytes: bytes, Failed: rep.Failed()}
		if err != nil {
			if p.ctx.Err() != nil {
				return // the client is gone
			}
			got.Error = protocol.Clip(err.Error(), protocol.MaxReasonLen)
		}
		p.logf(slog.LevelInfo, "files sent", "id", p.info.ID, "name", p.name(), "get", id, "files", files, "failed", got.Failed, "bytes", rep.Bytes)
		p.answer(got)
	})
}

// getConn is a client's session as the sender of a get sees it.
type getConn struct{ p *peer }

func (c getConn) Send(m protocol.Message) error {
	if c.p.ctx.Err() != nil {
		return mux.ErrClosed
	}
	c.p.answer(m)
	return nil
}

func (c getConn) OpenData(ctx context.Context, h protocol.DataHeader) (transfer.DataStream, error) {
	release, err := c.p.h.getStreams.take(ctx, c.p.src)
	if err != nil {
		return nil, err
	}
	st, err := c.p.sess.OpenData(ctx, h)
	if err != nil {
		release()
		return nil, err
	}
	return &budgetStream{Stream: st, release: release}, nil
}

// budgetStream is a get's data stream, which gives its place in the
// hub's budget back when it closes.
type budgetStream struct {
	*mux.Stream
	once    sync.Once
	release func()
}

func (s *budgetStream) Close() error {
	err := s.Stream.Close()
	s.once.Do(s.release)
	return err
}

// getBudget bounds the data streams the hub's gets hold open (each a
// file open and up to its read-ahead in memory), per source address and
// in all: a get waits for a place rather than fail.
type getBudget struct {
	all    chan struct{}
	mu     sync.Mutex
	byAddr map[source]chan struct{}
	each   int
}

func newGetBudget(total, perAddr int) *getBudget {
	return &getBudget{all: make(chan struct{}, total), byAddr: map[source]chan struct{}{}, each: perAddr}
}

// take waits for a place for one more stream from src, or for ctx, and
// returns the func that gives it back.
func (b *getBudget) take(ctx context.Context, src source) (func(), error) {
	b.mu.Lock()
	mine := b.byAddr[src]
	if mine == nil {
		mine = make(chan struct{}, b.each)
		b.byAddr[src] = mine
	}
	b.mu.Unlock()
	select {
	case mine <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case b.all <- struct{}{}:
	case <-ctx.Done():
		<-mine
		return nil, ctx.Err()
	}
	return func() {
		<-b.all
		b.mu.Lock()
		<-mine
		if len(mine) == 0 && b.byAddr[src] == mine {
			delete(b.byAddr, src)
		}
		b.mu.Unlock()
	}, nil
}

func (c getConn) Subscribe(id string) (<-chan protocol.Message, func()) {
	return c.p.routes.Subscribe(id)
}

func (c getConn) Done() <-chan struct{} { return c.p.ctx.Done() }

// recordFolders records that the client uploaded the folders of o, an
// offer the hub accepted.
func (p *peer) recordFolders(o protocol.Offer) {
	if p.info.Identity == "" {
		return // nobody's: only ReadAll or Shared would let anyone read them
	}
	for _, f := range o.Files {
		if !f.Dir {
			continue
		}
		err := p.h.catalog.record(upload{Path: f.Path, By: p.name(), Identity: p.info.Identity, At: time.Now().Unix(), Dir: true})
		if err != nil {
			p.logf(slog.LevelWarn, "cannot record an upload", "folder", f.Path, "err", err)
			return
		}
	}
}

// recordUpload records that the client uploaded the file res stored.
func (p *peer) recordUpload(res protocol.Result) {
	if p.info.Identity == "" {
		return // nobody's: only ReadAll or Shared would let anyone read it
	}
	info, err := p.h.root.Lstat(res.Stored)
	if err != nil || !info.Mode().IsRegular() {
		return
	}
	err = p.h.catalog.record(upload{Path: res.Stored, By: p.name(), Identity: p.info.Identity, At: time.Now().Unix(),
		Size: info.Size(), MTime: info.ModTime().UnixNano(), Hash: res.Hash})
	if err != nil {
		p.logf(slog.LevelWarn, "cannot record an upload", "file", res.Stored, "err", err)
	}
}
