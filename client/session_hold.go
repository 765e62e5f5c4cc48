package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// errNoIdentity reports a recipient whose name no identity owns on the
// hub: nothing can be sealed for it.
var errNoIdentity = errors.New("no identity owns that name on this hub: files cannot be held for it")

// heldWait bounds the wait, after the last stream of a held transfer is
// verified, for the hub's word that it holds the transfer.
const heldWait = 30 * time.Second

// hold seals files for the people called names and leaves them on the
// hub, for send n: it finds each one's identity (the pinned one, or the
// hub's, then pinned), seals the files to them in a temporary folder,
// and uploads the sealed streams as any upload (reconnecting, resuming),
// until the hub says it holds them all.
func (s *Session) hold(ctx context.Context, n int, files *Files, names []string, opt SendOptions) (*Report, *Held, error) {
	unsent := func(err error) (*Report, *Held, error) { return unsent(files, err), nil, err }
	if s.cfg.Identity == nil {
		return unsent(errors.New("holding files for people who are not connected needs an identity of your own (muxfer id makes one)"))
	}
	people, err := s.recipients(ctx, names)
	if err != nil {
		return unsent(err)
	}
	sealed, err := sealFiles(files, s.cfg.Identity.key, s.Name(), people, os.TempDir())
	if err != nil {
		return unsent(err)
	}
	defer os.RemoveAll(sealed.dir)
	hexID := hex.EncodeToString(sealed.id[:])
	up, skipped, err := transfer.Scan(filepath.Join(sealed.dir, hexID))
	if err != nil || len(skipped) > 0 {
		return unsent(fmt.Errorf("the sealed files: %v %v", err, skipped))
	}
	plain := func(p string) string { // a stream's path in the upload -> the file's in the send
		i, err := strconv.Atoi(path.Base(p))
		if err != nil || i < 0 || i >= len(sealed.paths) {
			return "" // the key or the manifest
		}
		return sealed.paths[i]
	}
	again := false
	obs := transfer.Observer{
		Started: func(k int, bytes int64) {
			s.events.push(SendStarted{Send: n, To: strings.Join(names, ","), Files: len(sealed.paths), Bytes: bytes, Again: again})
			again = true
		},
		Opened: func(p string) {
			if fp := plain(p); fp != "" {
				s.events.push(FileStarted{Send: n, Path: fp})
			}
		},
		Wrote: func(k int) { s.events.push(Progress{Send: n, Bytes: int64(k)}) },
		Held:  func(k int64) { s.events.push(Progress{Send: n, Held: k}) },
	}
	var to []protocol.Person
	for _, p := range people {
		to = append(to, protocol.Person{Name: p.Name, Identity: p.Identity})
	}
	d := deliverOptions{
		SendOptions: transfer.SendOptions{Parallel: opt.Parallel, LimitRate: opt.LimitRate, ResumeKey: s.key, Observer: obs,
			Hold: &protocol.HoldSpec{ID: hexID, To: to}},
		Backoff:     s.cfg.Backoff,
		NoReconnect: s.cfg.NoReconnect,
		OnWait: func(err error, files int, wait time.Duration) {
			s.events.push(SendWaiting{Send: n, Err: err, Files: files, Wait: wait})
		},
	}
	rep, err := deliver(ctx, s.conn, up, d, false)
	out := sealed.heldFiles(rep, files)
	for _, r := range out.Files {
		s.events.push(FileDone{Send: n, To: strings.Join(names, ","), Report: r})
	}
	if err != nil || out.Failed() > 0 {
		return out, nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, heldWait)
	defer cancel()
	var m protocol.Held
	err = s.retried(wctx, func(c *Client) error {
		var err error
		m, err = c.waitHeld(wctx, hexID)
		return err
	})
	if err != nil {
		return out, nil, fmt.Errorf("the hub did not say that it holds the files: %w", err)
	}
	held := &Held{ID: m.ID, Expires: time.Unix(m.Expires, 0)}
	for _, p := range m.To {
		held.To = append(held.To, p.Name)
	}
	return out, held, nil
}

// recipients returns the identity of each name: the pinned one, which
// the hub's must match, or the hub's, which is then pinned.
func (s *Session) recipients(ctx context.Context, names []string) ([]protocol.Person, error) {
	if len(names) > protocol.MaxHoldRecipients {
		return nil, fmt.Errorf("files are held for at most %d people at once", protocol.MaxHoldRecipients)
	}
	var people []protocol.Person
	err := s.retried(ctx, func(c *Client) error {
		var err error
		people, err = c.Lookup(ctx, names)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(people) != len(names) {
		return nil, errors.New("the hub did not say who the recipients are")
	}
	for i, p := range people {
		p.Name = names[i]
		if changed := s.checkPeer(p.Name, p.Identity); changed != nil {
			s.events.push(KeyChanged{Err: changed, What: DirectMessageTo})
			return nil, changed
		}
		if p.Identity == "" {
			return nil, fmt.Errorf("%s: %w", p.Name, errNoIdentity)
		}
		s.pinPeer(p.Name, p.Identity)
		people[i] = p
	}
	return people, nil
}

// Holds lists the held transfers this session's identity sent that the
// hub still holds, withdrawing the one of id withdraw first if set (see
// Client.Holds).
func (s *Session) Holds(ctx context.Context, withdraw string) (list []protocol.Hold, err error) {
	err = s.retried(ctx, func(c *Client) error {
		list, err = c.Holds(ctx, withdraw)
		return err
	})
	return list, err
}
