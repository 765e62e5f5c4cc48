package client

// Holding files for people who are not connected: the sender seals them
// to the recipients' identities (internal/seal), in a folder of its own,
// and uploads the sealed streams to the hub, which keeps them until each
// recipient has taken or declined them, or they expire.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/muxfer/muxfer/internal/seal"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// Held says that the hub holds a send's files for people who were not
// connected: ID names the held transfer (for muxfer held --withdraw),
// Expires is when the hub deletes what nobody took.
type Held struct {
	ID      string
	To      []string
	Expires time.Time
}

// Lookup asks the hub which identity each name has (see protocol.Lookup).
func (c *Client) Lookup(ctx context.Context, names []string) ([]protocol.Person, error) {
	m, err := c.request(ctx, func(id string) protocol.Message { return protocol.Lookup{ID: id, Names: names} })
	if err != nil {
		return nil, err
	}
	p, ok := m.(protocol.People)
	if !ok {
		return nil, fmt.Errorf("the hub answered a lookup with %s", m.Type())
	}
	return p.People, nil
}

// request sends the request that req makes with a new id, paced as chat is,
// and returns the hub's answer of that id.
func (c *Client) request(ctx context.Context, req func(id string) protocol.Message) (protocol.Message, error) {
	if err := c.waitTurn(); err != nil {
		return nil, err
	}
	id := newID()
	ch := make(chan protocol.Message, 1)
	c.mu.Lock()
	if c.asked == nil {
		c.asked = map[string]chan protocol.Message{}
	}
	c.asked[id] = ch
	c.mu.Unlock()
	defer c.unask(id)
	if err := c.sess.Send(req(id)); err != nil {
		return nil, err
	}
	select {
	case m := <-ch:
		return m, nil
	case <-c.done:
		return nil, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// unask forgets the request id.
func (c *Client) unask(id string) {
	c.mu.Lock()
	delete(c.asked, id)
	c.mu.Unlock()
}

// answered hands the hub's answer to the request id, if one waits.
func (c *Client) answered(id string, m protocol.Message) {
	c.mu.Lock()
	ch := c.asked[id]
	c.mu.Unlock()
	if ch != nil {
		select {
		case ch <- m:
		default:
		}
	}
}

// sealed is a held transfer sealed into a folder, ready to upload.
type sealed struct {
	id    seal.ID
	dir   string   // the folder holding the folder named by the id
	paths []string // the files' paths in the send, by stream
	bytes int64    // of the files, plain
}

// sealFiles seals the regular files and folders of m for to, signed by
// me as from, into a new folder under tmp. Files of unknown size (a
// pipe) cannot be held.
func sealFiles(m *transfer.Manifest, me ed25519.PrivateKey, from string, to []protocol.Person, tmp string) (*sealed, error) {
	id, key := seal.NewTransfer()
	hexID := hex.EncodeToString(id[:])
	dir, err := os.MkdirTemp(tmp, "muxfer-held-")
	if err != nil {
		return nil, err
	}
	s := &sealed{id: id, dir: dir}
	fail := func(err error) (*sealed, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	streams := filepath.Join(dir, hexID)
	if err := os.Mkdir(streams, 0o700); err != nil {
		return fail(err)
	}
	man := seal.Manifest{Version: 1, ID: hexID, From: from, FromIdentity: hex.EncodeToString(me.Public().(ed25519.PublicKey)),
		Created: time.Now().Unix()}
	var pubs []ed25519.PublicKey
	for _, p := range to {
		b, err := hex.DecodeString(p.Identity)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return fail(fmt.Errorf("%s has no identity on this hub: files cannot be held for them", p.Name))
		}
		pubs = append(pubs, b)
		man.To = append(man.To, seal.Person{Name: p.Name, Identity: p.Identity})
	}
	for i, f := range m.Files {
		e := seal.File{Path: f.Path, Dir: f.Dir, Size: f.Size, Mode: f.Mode, MTime: f.MTime}
		if !f.Dir {
			if f.Size == protocol.UnknownSize {
				return fail(errors.New("standard input cannot be held for someone who is not connected: send it when they are"))
			}
			e.Stream = uint32(len(s.paths))
			n, sum, err := sealFile(m.Local[i], filepath.Join(streams, strconv.Itoa(len(s.paths))), key, id, e.Stream)
			if err != nil {
				return fail(err)
			}
			if n != f.Size {
				return fail(fmt.Errorf("%s changed while it was sealed", m.Local[i]))
			}
			e.SHA256 = hex.EncodeToString(sum[:])
			s.paths = append(s.paths, f.Path)
			s.bytes += n
		}
		man.Files = append(man.Files, e)
	}
	signed, err := seal.Sign(man, me)
	if err != nil {
		return fail(err)
	}
	if len(signed) > seal.MaxManifest {
		return fail(fmt.Errorf("the list of %d files and folders is too long to hold at once: send fewer", len(man.Files)))
	}
	if err := writeSealed(filepath.Join(streams, "manifest"), key, id, seal.ManifestStream, signed); err != nil {
		return fail(err)
	}
	wrapped, err := seal.Wrap(key, pubs)
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(streams, "key"), wrapped, 0o600); err != nil {
		return fail(err)
	}
	return s, nil
}

// sealFile seals the file at src as stream index into dst.
func sealFile(src, dst string, key *seal.Key, id seal.ID, index uint32) (int64, [32]byte, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, [32]byte{}, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, [32]byte{}, err
	}
	n, sum, err := seal.Seal(out, key, id, index, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, sum, err
}

// writeSealed seals b as stream index into the file dst.
func writeSealed(dst string, key *seal.Key, id seal.ID, index uint32, b []byte) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, _, err = seal.Seal(out, key, id, index, bytes.NewReader(b))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// heldFiles maps the report of a sealed upload back to the files sent:
// stream i is file s.paths[i]; the key and the manifest count for every
// file.
func (s *sealed) heldFiles(rep *transfer.Report, m *transfer.Manifest) *transfer.Report {
	out := &transfer.Report{Elapsed: rep.Elapsed, Moving: rep.Moving, Accepted: rep.Accepted}
	hexID := hex.EncodeToString(s.id[:])
	byStream := map[string]FileReport{}
	var common *FileReport
	for _, r := range rep.Files {
		name := filepath.Base(r.Path)
		if name == "key" || name == "manifest" {
			if !r.OK() && common == nil {
				r := r
				common = &r
			}
			continue
		}
		byStream[name] = r
	}
	sizes := make(map[string]int64, len(m.Files))
	for _, f := range m.Files {
		sizes[f.Path] = f.Size
	}
	for i, p := range s.paths {
		r, ok := byStream[strconv.Itoa(i)]
		if !ok {
			r = FileReport{Status: NotSent, Err: "not sent"}
		}
		if common != nil && r.OK() {
			r.Status, r.Err = common.Status, "the held transfer's "+filepath.Base(common.Path)+": "+common.Err
		}
		r.Path, r.Stored, r.Size = p, hexID, sizes[p]
		if r.OK() {
			out.Bytes += r.Size
		}
		out.Files = append(out.Files, r)
	}
	for _, f := range m.Files {
		if f.Dir {
			out.Dirs++
		}
	}
	return out
}

// heldSeen keeps the hub's Held messages, so that a sender can wait for
// the one of its transfer whenever it comes.
type heldSeen struct {
	mu      sync.Mutex
	seen    map[string]protocol.Held
	order   []string
	changed chan struct{} // closed and replaced when one comes
}

// maxHeldSeen bounds the Held messages a client keeps.
const maxHeldSeen = 64

func (h *heldSeen) add(m protocol.Held) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen = map[string]protocol.Held{}
	}
	if len(h.order) >= maxHeldSeen {
		delete(h.seen, h.order[0])
		h.order = h.order[1:]
	}
	h.seen[m.ID] = m
	h.order = append(h.order, m.ID)
	if h.changed != nil {
		close(h.changed)
		h.changed = nil
	}
}

// waitHeld returns the Held message of id once it has come.
func (c *Client) waitHeld(ctx context.Context, id string) (protocol.Held, error) {
	for {
		c.held.mu.Lock()
		m, ok := c.held.seen[id]
		if c.held.changed == nil {
			c.held.changed = make(chan struct{})
		}
		changed := c.held.changed
		c.held.mu.Unlock()
		if ok {
			return m, nil
		}
		select {
		case <-changed:
		case <-c.done:
			return m, c.err
		case <-ctx.Done():
			return m, ctx.Err()
		}
	}
}

// Holds lists the held transfers this client's identity sent that the
// hub still holds, after withdrawing the one of id withdraw, if set: a
// withdrawal of nothing the client holds fails with a *protocol.Error of
// code protocol.CodeNotFound, and still lists.
func (c *Client) Holds(ctx context.Context, withdraw string) ([]protocol.Hold, error) {
	m, err := c.request(ctx, func(id string) protocol.Message { return protocol.Holds{ID: id, Withdraw: withdraw} })
	if err != nil {
		return nil, err
	}
	h, ok := m.(protocol.Holdings)
	if !ok {
		return nil, fmt.Errorf("the hub answered with %s", m.Type())
	}
	if h.Error != "" {
		return h.Holds, &protocol.Error{Code: h.Code, Text: h.Error}
	}
	return h.Holds, nil
}
