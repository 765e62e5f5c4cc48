package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// waitingHolds is Config.OnWaiting: each held transfer that waits for
// the session, and that it is not dealing with already, is opened and
// offered on a goroutine of its own.
func (s *Session) waitingHolds(c *Client, holds []protocol.Hold) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	for _, h := range holds {
		if s.heldBusy[h.ID] {
			continue
		}
		s.heldBusy[h.ID] = true
		s.heldWG.Go(func() { s.heldArrived(c, h) })
	}
}

// heldDone lets the held transfer id be offered again (the next time the
// hub says it waits).
func (s *Session) heldDone(id string) {
	s.mu.Lock()
	delete(s.heldBusy, id)
	if len(s.heldBusy) == 0 {
		for _, ch := range s.heldIdle {
			close(ch)
		}
		s.heldIdle = nil
	}
	s.mu.Unlock()
}

// maxHeldAtOnce bounds the held transfers a session opens or receives at
// once: each is a get (a hub runs 4 of a client's at once) and a
// manifest in memory.
const maxHeldAtOnce = 2

// heldArrived opens the held transfer h and offers it as Decide says. A
// transfer that is wrong is declined; one that cannot be opened now (a
// busy hub, a lost connection, a full disk) waits on the hub for the
// next time.
func (s *Session) heldArrived(c *Client, h protocol.Hold) {
	select {
	case s.heldSlots <- struct{}{}:
	case <-c.Done():
		s.heldDone(h.ID)
		return
	}
	ho, err := c.openHeld(context.Background(), h, s.cfg.Dir, s.cfg.Identity.key)
	<-s.heldSlots
	if err != nil {
		s.heldDone(h.ID)
		switch {
		case lost(err):
			return // offered again once the session is back
		case errors.Is(err, errHeldInvalid):
			s.events.push(Notice{Text: fmt.Sprintf("files %s left for you on the hub were declined: %v", h.From, err)})
			c.releaseHeld(h.ID, false)
		default:
			s.events.push(Notice{Text: fmt.Sprintf("files %s left for you on the hub cannot be opened now; they wait there: %v", h.From, err)})
		}
		os.RemoveAll(ho.stage)
		return
	}
	if changed := s.checkPeer(ho.man.From, ho.man.FromIdentity); changed != nil {
		s.events.push(KeyChanged{Err: changed, What: OfferFrom})
		s.declineHeld(c, ho)
		return
	}
	po := ho.offer()
	hold := h
	s.mu.Lock()
	o := Offer{N: s.nextN, Transfer: po.Transfer, From: po.From, FromIdentity: po.FromIdentity, Files: po.Files, Held: &hold}
	s.nextN++
	s.mu.Unlock()
	o.Decision = s.cfg.Decide(o)
	s.mu.Lock()
	if o.Decision == Ask {
		s.waiting = append(s.waiting, waitingN{o: o, c: c, held: ho})
	}
	s.mu.Unlock()
	s.events.push(Offered{o})
	switch o.Decision {
	case Accept:
		s.pinPeer(o.From, o.FromIdentity)
		s.takeHeld(c, o, ho)
	case Decline:
		s.declineHeld(c, ho)
	}
}

// lost reports whether err is a lost connection's.
func lost(err error) bool {
	return errors.Is(err, ErrConnectionLost) || errors.Is(err, mux.ErrClosed)
}

// declineHeld declines a held transfer: the hub forgets it for this
// session, and its sealed streams here are removed.
func (s *Session) declineHeld(c *Client, ho *heldOffer) {
	c.releaseHeld(ho.hold.ID, false)
	os.RemoveAll(ho.stage)
	s.heldDone(ho.hold.ID)
}

// takeHeld receives accepted held transfer o into SessionConfig.Dir, with
// the events of any offer received, and tells the hub it took it once
// every file has its outcome (a file that failed is reported: what was
// changed on the way will not be better the next time). A lost
// connection, a busy hub or a full disk leaves it waiting on the hub, and
// what arrived of its streams resumes when it is taken again.
func (s *Session) takeHeld(c *Client, o Offer, ho *heldOffer) {
	defer s.heldDone(ho.hold.ID)
	select {
	case s.heldSlots <- struct{}{}:
		defer func() { <-s.heldSlots }()
	case <-c.Done():
		return
	}
	s.mu.Lock()
	a := &arriving{o: o, begun: map[int]bool{}, start: time.Now()}
	for _, f := range o.Files {
		if !f.Dir {
			a.left++
		}
	}
	s.mu.Unlock()
	streams := map[uint32]int{} // stream -> file index
	for i, f := range ho.man.Files {
		if !f.Dir {
			streams[f.Stream] = i
		}
	}
	opt := GetOptions{Hold: ho.hold.ID, Wrote: func(_ string, n int) { s.events.push(Progress{Offer: o.N, Bytes: int64(n)}) }}
	err := c.receiveHeld(context.Background(), ho, s.cfg.Dir, opt, func(i int, r FileReport) {
		if r.OK() {
			a.ok++
			a.bytes += r.Size
		} else {
			a.bad++
		}
		a.left--
		s.events.push(FileDone{Offer: o.N, File: i, From: o.From, Transfer: o.Transfer, Report: r})
	})
	switch {
	case err != nil && lost(err):
		s.events.push(a.done(true))
		return
	case errors.Is(err, errHeldInvalid):
		s.events.push(Notice{Text: fmt.Sprintf("files %s left for you were declined: %v", o.From, err)})
		a.bad, a.left = a.bad+a.left, 0 // none of them came as the sender sealed them
		s.events.push(a.done(false))
		c.releaseHeld(ho.hold.ID, false)
		os.RemoveAll(ho.stage)
		return
	case err != nil:
		s.events.push(Notice{Text: fmt.Sprintf("files %s left for you wait on the hub: %v", o.From, err)})
		s.events.push(a.done(true))
		return
	}
	s.events.push(a.done(false))
	c.releaseHeld(ho.hold.ID, true)
	os.RemoveAll(ho.stage)
}

// acceptHeld is Session.Accept for a held transfer.
func (s *Session) acceptHeld(w waitingN) {
	s.pinPeer(w.o.From, w.o.FromIdentity)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.heldWG.Go(func() { s.takeHeld(w.c, w.o, w.held) })
}

// releaseHeld tells the hub this client took or declined held transfer id.
func (c *Client) releaseHeld(id string, taken bool) {
	c.sess.Send(protocol.Release{Hold: id, Taken: taken})
}

// HeldSettled returns a channel that is closed once the session deals
// with no held transfer: none that the hub said waits for it is being
// opened, offered or received. Once a round trip to the hub (Who, say)
// has returned after Connect, those that waited then are counted.
func (s *Session) HeldSettled() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	if len(s.heldBusy) == 0 {
		close(ch)
	} else {
		s.heldIdle = append(s.heldIdle, ch)
	}
	return ch
}
