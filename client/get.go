package client

// Files on the hub: List what the hub lets this client read, and Get it
// back. The hub sends what a Get names as offers whose Get is the
// request's id, and this client receives them into the folder given,
// with the same checks as any offer (transfer.Receiver).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/muxfer/muxfer/internal/datastream"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// Entry is a file or folder on the hub, as List gives it.
type Entry = protocol.Entry

// maxListingParts bounds the parts of one listing held for List, and
// maxListed its entries (a hub lists at most 100,000).
const (
	maxListingParts = 256
	maxListed       = 100_000
)

// List returns what the hub lets this client read at path ("" for the
// top): the entries directly in that folder, or with recursive every file
// and folder under it. A folder the hub holds more of than it lists at
// once gives what it listed and an error whose Code is
// protocol.CodeLimit. Errors from the hub are *protocol.Error values:
// Code protocol.CodeNotFound for a path that is not there or that this
// client may not read, protocol.CodeDenied for a hub that lets nobody
// read.
func (c *Client) List(ctx context.Context, path string, recursive bool) ([]Entry, error) {
	id := newID()
	ch := make(chan protocol.Listing, maxListingParts)
	c.mu.Lock()
	if c.lists == nil {
		c.lists = map[string]chan protocol.Listing{}
	}
	c.lists[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.lists, id)
		c.mu.Unlock()
	}()
	if err := c.sess.Send(protocol.List{ID: id, Path: path, Recursive: recursive}); err != nil {
		return nil, err
	}
	var out []Entry
	for {
		select {
		case l := <-ch:
			out = append(out, l.Entries...)
			if len(out) > maxListed {
				return out[:maxListed], &protocol.Error{Code: protocol.CodeBadMessage, Text: "the hub lists more than any listing holds"}
			}
			if l.More && l.Error == "" {
				continue
			}
			if l.Error != "" {
				return out, &protocol.Error{Code: l.Code, Text: l.Error}
			}
			return out, nil
		case <-c.done:
			return out, c.err
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
}

// listing hands a part of a listing to its List.
func (c *Client) listing(l protocol.Listing) {
	c.mu.Lock()
	ch := c.lists[l.ID]
	c.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- l:
	default: // more parts than any listing has: the List is told by the last
		l.Error, l.Code, l.More = "the hub sent more of a listing than it may", protocol.CodeBadMessage, false
		select {
		case <-ch:
		default:
		}
		ch <- l
	}
}

// GetOptions tune Client.Get.
type GetOptions struct {
	// Parallel is how many files the hub sends at once: default 4, at
	// most 16.
	Parallel int
	// Hold, if set, gets the streams of that held transfer (its paths
	// are stream names: "key", "manifest", "0"…), which waits for this
	// client.
	Hold string
	// Check, if set, is asked about each offer the hub makes for the Get
	// before it is accepted: an error declines it, and ends the Get with
	// that error.
	Check func(files []File) error
	// KeepParts is how long the part of a file cut on its way into the
	// folder is kept for a later Get to resume; 0 means
	// DefaultKeepParts.
	KeepParts time.Duration
	// Offered, if set, is told the files and folders of each offer the
	// hub makes for the Get (a large Get comes as several), before they
	// come.
	Offered func(files []File)
	// Wrote, if set, is told of n more bytes of file path written into
	// the folder. It is called from the goroutines of the data streams,
	// concurrently.
	Wrote func(path string, n int)
	// Finished, if set, is told the outcome of each regular file, once.
	// Resumed is what the folder held of it already (a Get cut earlier),
	// not sent again.
	Finished func(FileReport)
}

// GetReport is the outcome of a Get.
type GetReport struct {
	Files   []FileReport // Path is the hub's name for the file, Stored the folder's
	Dirs    int
	Bytes   int64 // of the files received and verified
	Elapsed time.Duration
}

// Failed counts the files that did not arrive verified.
func (r *GetReport) Failed() int {
	n := 0
	for _, f := range r.Files {
		if !f.OK() {
			n++
		}
	}
	return n
}

// getting is a Get on its way in.
type getting struct {
	c      *Client
	id     string
	opt    GetOptions
	root   *os.Root
	recv   *transfer.Receiver
	got    chan protocol.Got // the hub's last word
	failed chan error        // or why this client ends the Get first
	tops   map[string]bool   // the top-level names the paths asked for arrive as; nil: any (the top)
	wg     sync.WaitGroup    // the data streams being stored

	mu      sync.Mutex
	pieces  map[string]*piece // the hub's offers, by transfer id
	dirs    int
	stopped bool                 // the caller gave up: further offers are declined
	ended   bool                 // Get has returned, or is about to: no stream may start storing
	streams map[*mux.Stream]bool // the streams storing files of it
}

// piece is one offer of a Get.
type piece struct {
	in      *transfer.Incoming
	files   []protocol.File
	reports []*FileReport // by file index; nil for folders and files not yet done
	written []int64
}

// Get downloads paths from the hub (files and folders, as List names
// them; "" for everything this client may read) into the folder dir,
// created if missing, with the checks of any offer: no path leaves dir,
// nothing there is overwritten (a name taken gets a number), and each
// file keeps a ".part" name until its hash is verified, then takes its
// own name, mode and mtime. A folder "a/b" arrives as "b" with everything
// under it, as scp -r names it.
//
// A Get cut by a lost connection returns an error wrapping
// ErrConnectionLost, and the parts stay in dir: the same Get again, on
// a new connection, resumes each file where dir holds it, and confirms
// without sending them again the files that arrived whole. The hub
// refusing it gives a *protocol.Error (its Code CodeNotFound, CodeDenied,
// CodeBusy, CodeLimit).
func (c *Client) Get(ctx context.Context, dir string, paths []string, opt GetOptions) (*GetReport, error) {
	start := time.Now()
	rep := &GetReport{}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return rep, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return rep, err
	}
	defer root.Close()
	recv := transfer.NewReceiver(root)
	if recv.KeepParts = opt.KeepParts; recv.KeepParts <= 0 {
		recv.KeepParts = transfer.DefaultKeepParts
	}
	recv.OpenRecords() // a Get done again confirms what arrived, rather than storing it twice
	defer recv.CloseRecords()
	g := &getting{c: c, id: newID(), opt: opt, root: root, recv: recv, got: make(chan protocol.Got, 1), failed: make(chan error, 1),
		pieces: map[string]*piece{}, tops: topNames(paths)}
	defer g.wg.Wait() // before the folder closes: no stream writes into it after
	c.mu.Lock()
	if c.gets == nil {
		c.gets = map[string]*getting{}
	}
	c.gets[g.id] = g
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.gets, g.id)
		c.mu.Unlock()
		rep.Elapsed = time.Since(start)
	}()
	if err := c.sess.Send(protocol.Get{ID: g.id, Hold: opt.Hold, Paths: paths, Parallel: opt.Parallel}); err != nil {
		return rep, lostOr(err)
	}
	select {
	case got := <-g.got:
		g.end(rep, "")
		if got.Error != "" {
			return rep, &protocol.Error{Code: got.Code, Text: got.Error}
		}
		return rep, nil
	case err := <-g.failed:
		g.stop()
		g.end(rep, err.Error())
		return rep, err
	case <-c.done:
		g.end(rep, "the connection was lost")
		return rep, fmt.Errorf("%w: %w", ErrConnectionLost, c.err)
	case <-ctx.Done():
		g.stop()
		g.end(rep, "cancelled")
		return rep, ctx.Err()
	}
}

// lostOr wraps a closed session's error in ErrConnectionLost.
func lostOr(err error) error {
	if errors.Is(err, mux.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}
	return err
}

// topNames is the set of top-level names what paths names arrives
// under (scp -r's: the last element), or nil if one of them is the top,
// whose entries arrive under their own names.
func topNames(paths []string) map[string]bool {
	tops := map[string]bool{}
	for _, p := range paths {
		p = strings.Trim(path.Clean("/"+p), "/")
		if p == "" {
			return nil
		}
		tops[path.Base(p)] = true
	}
	return tops
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// getFor returns the Get of id, or nil.
func (c *Client) getFor(id string) *getting {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets[id]
}

// getPiece returns the Get and piece of the hub's transfer id, or nils.
func (c *Client) getPiece(transfer string) (*getting, *piece) {
	c.mu.Lock()
	gets := make([]*getting, 0, len(c.gets))
	for _, g := range c.gets {
		gets = append(gets, g)
	}
	c.mu.Unlock()
	for _, g := range gets {
		g.mu.Lock()
		p := g.pieces[transfer]
		g.mu.Unlock()
		if p != nil {
			return g, p
		}
	}
	return nil, nil
}

// gotten hands the hub's Got to its Get.
func (c *Client) gotten(m protocol.Got) {
	if g := c.getFor(m.ID); g != nil {
		select {
		case g.got <- m:
		default:
		}
	}
}

// getOffer answers an offer the hub makes for a Get: checked and
// prepared as any offer, it is accepted without asking (this client
// asked for it). It runs on the reading goroutine.
func (c *Client) getOffer(o protocol.Offer) {
	g := c.getFor(o.Get)
	reject := func(why string) {
		c.sess.Send(protocol.Reject{Transfer: protocol.Clip(o.Transfer, 64), Reason: why})
	}
	if g == nil {
		reject("no such get")
		return
	}
	if err := transfer.CheckOffer(o); err != nil {
		reject(err.Error())
		return
	}
	if err := g.expected(o.Files); err != nil {
		reject(err.Error())
		g.fail(err)
		return
	}
	g.mu.Lock()
	stopped, dup := g.stopped, g.pieces[o.Transfer] != nil
	g.mu.Unlock()
	if stopped || dup {
		reject("cancelled")
		return
	}
	in, err := g.recv.Prepare(o)
	if err != nil {
		reject(err.Error())
		return
	}
	p := &piece{in: in, files: o.Files, reports: make([]*FileReport, len(o.Files)), written: make([]int64, len(o.Files))}
	g.mu.Lock()
	g.pieces[o.Transfer] = p
	for _, f := range o.Files {
		if f.Dir {
			g.dirs++
		}
	}
	g.mu.Unlock()
	if g.opt.Offered != nil {
		g.opt.Offered(o.Files)
	}
	in.OnProgress(func(file, n int) {
		g.mu.Lock()
		p.written[file] += int64(n)
		g.mu.Unlock()
		if g.opt.Wrote != nil {
			g.opt.Wrote(o.Files[file].Path, n)
		}
	})
	c.sess.Send(in.Accept())
}

// expected says why the files of an offer are not what the Get asked
// for: a top-level name none of its paths ends in (a hub that would slip
// a .git/hooks/ or a .ssh/ into the folder), or what GetOptions.Check
// refuses.
func (g *getting) expected(files []File) error {
	if g.tops != nil {
		for _, f := range files {
			top, _, _ := strings.Cut(f.Path, "/")
			if !g.tops[top] {
				return fmt.Errorf("the hub offers %q, which is none of the paths asked for", protocol.Clip(f.Path, 128))
			}
		}
	}
	if g.opt.Check != nil {
		return g.opt.Check(files)
	}
	return nil
}

// fail ends the Get with err, as the hub's Got would.
func (g *getting) fail(err error) {
	select {
	case g.failed <- err:
	default:
	}
}

// cancelled handles a Result from the hub for a Get's file: it will
// not send it (it vanished or changed on the hub's disk).
func (g *getting) cancelled(p *piece, r protocol.Result) {
	if p.in.Cancel(r.File) {
		g.done(p, r.File, protocol.Result{Error: "the hub could not send it: " + r.Error})
	}
}

// done records the outcome of file idx of piece p.
func (g *getting) done(p *piece, idx int, res protocol.Result) {
	f := p.files[idx]
	g.mu.Lock()
	if p.reports[idx] != nil {
		g.mu.Unlock()
		return
	}
	r := FileReport{Path: f.Path, Size: f.Size, Stored: res.Stored, Hash: res.Hash, Status: Delivered}
	if res.Error != "" {
		r.Status, r.Hash, r.Stored, r.Err = Failed, "", "", res.Error
	} else {
		r.Resumed = max(f.Size-p.written[idx], 0)
	}
	p.reports[idx] = &r
	g.mu.Unlock()
	if g.opt.Finished != nil {
		g.opt.Finished(r)
	}
}

// enter counts a stream that stores files of the Get, unless the Get has
// ended.
func (g *getting) enter(st *mux.Stream) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ended || g.stopped {
		return false
	}
	if g.streams == nil {
		g.streams = map[*mux.Stream]bool{}
	}
	g.streams[st] = true
	g.wg.Add(1)
	return true
}

// leave ends what enter began.
func (g *getting) leave(st *mux.Stream) {
	g.mu.Lock()
	delete(g.streams, st)
	g.mu.Unlock()
	g.wg.Done()
}

// stop declines what else the hub offers for the Get, and tells it that
// no file not yet done will be taken.
func (g *getting) stop() {
	g.mu.Lock()
	g.stopped = true
	for st := range g.streams {
		st.Abort() // what it brought stays a part, to resume
	}
	pieces := make(map[string]*piece, len(g.pieces))
	for id, p := range g.pieces {
		pieces[id] = p
	}
	g.mu.Unlock()
	for id, p := range pieces {
		for i, f := range p.files {
			if !f.Dir && p.in.Cancel(i) {
				g.c.sess.Send(protocol.Result{Transfer: id, File: i, Error: "receiver: cancelled"})
			}
		}
	}
}

// end fills rep with every file's outcome; a file without one failed
// with why (or, if why is "", was never sent).
func (g *getting) end(rep *GetReport, why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ended = true
	rep.Dirs = g.dirs
	for _, p := range g.pieces {
		p.in.Abandon()
		for i, f := range p.files {
			if f.Dir {
				continue
			}
			r := p.reports[i]
			if r == nil {
				r = &FileReport{Path: f.Path, Size: f.Size, Status: NotSent, Err: why}
				if why == "" {
					r.Err = "the hub did not send it"
				}
			}
			rep.Files = append(rep.Files, *r)
			if r.OK() {
				rep.Bytes += f.Size
			}
		}
	}
}

// receiveGot stores the files of a data stream the hub opened for a Get,
// whose first header is h, one after another, and answers for each. A
// stream for no Get is aborted.
func (c *Client) receiveGot(st *mux.Stream, fs *datastream.Reader, h protocol.DataHeader) {
	var held *getting // the Get whose WaitGroup counts this stream
	defer func() {
		if held != nil {
			held.leave(st)
		}
	}()
	for {
		g, p := c.getPiece(h.Transfer)
		if p == nil {
			st.Abort()
			return
		}
		if g != held {
			if !g.enter(st) {
				st.Abort()
				return
			}
			if held != nil {
				held.leave(st)
			}
			held = g
		}
		res, err := p.in.Receive(h, fs)
		if err != nil {
			st.Abort()
			return
		}
		if res.File >= 0 && res.File < len(p.files) {
			g.done(p, res.File, res) // before the hub hears, and so before its Got
		}
		c.sess.Send(res)
		if fs.Broken() != nil {
			fs.Drain()
			return
		}
		if h, err = fs.Next(); err != nil {
			return
		}
	}
}
