package client

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// offered numbers an offer that came on c, asks Decide about it, and
// announces it. It runs on c's reading goroutine, before c acts on the
// decision, so that the offer's events come after Offered.
func (s *Session) offered(c *Client, po protocol.Offer) Decision {
	if changed := s.checkPeer(po.From, po.FromIdentity); changed != nil {
		// Declined unseen: the offer waits for an answer from before
		// Decide is asked, so that this one finds it.
		s.events.push(KeyChanged{Err: changed, What: OfferFrom})
		c.Decline(po.Transfer, fmt.Sprintf("the recipient knows another key for the name %s: nothing was received (compare fingerprints: muxfer id)", po.From))
		return Ask
	}
	s.mu.Lock()
	o := Offer{N: s.nextN, Transfer: po.Transfer, From: po.From, FromID: po.FromID, FromIdentity: po.FromIdentity, Files: po.Files}
	s.nextN++
	s.mu.Unlock()
	o.Decision = s.cfg.Decide(o)
	if o.Decision == Accept {
		s.pinPeer(o.From, o.FromIdentity)
	}
	s.mu.Lock()
	switch o.Decision {
	case Ask:
		s.waiting = append(s.waiting, waitingN{o: o, c: c})
	case Accept:
		s.arrivingLocked(o)
	}
	s.mu.Unlock()
	s.events.push(Offered{o})
	return o.Decision
}

// arrivingLocked follows an accepted offer until its last file; s.mu is
// held. An offer of folders only is done when accepted.
func (s *Session) arrivingLocked(o Offer) {
	files, _, _ := o.Totals()
	if files > 0 {
		s.running[o.Transfer] = &arriving{o: o, begun: map[int]bool{}, left: files, start: time.Now()}
	}
}

// withdrawn is Config.OnWithdrawn.
func (s *Session) withdrawn(po protocol.Offer, reason string) {
	s.mu.Lock()
	i := slices.IndexFunc(s.waiting, func(w waitingN) bool { return w.o.Transfer == po.Transfer })
	if i < 0 {
		s.mu.Unlock()
		return
	}
	w := s.waiting[i]
	s.waiting = slices.Delete(s.waiting, i, i+1)
	s.mu.Unlock()
	s.events.push(Withdrawn{Offer: w.o, Reason: reason})
}

// progress is Config.OnProgress.
func (s *Session) progress(id string, file, n int) {
	s.mu.Lock()
	a := s.running[id]
	path := ""
	if a != nil && !a.begun[file] && file >= 0 && file < len(a.o.Files) {
		a.begun[file], path = true, a.o.Files[file].Path
	}
	s.mu.Unlock()
	if a == nil {
		return
	}
	if path != "" {
		s.events.push(FileStarted{Offer: a.o.N, Path: path})
	}
	s.events.push(Progress{Offer: a.o.N, Bytes: int64(n)})
}

// received is Config.OnReceived: one file's outcome, and the offer's end
// after its last.
func (s *Session) received(res protocol.Result) {
	s.mu.Lock()
	a := s.running[res.Transfer]
	if a == nil {
		s.mu.Unlock()
		return
	}
	r := FileReport{Status: Delivered, Hash: res.Hash, Stored: res.Stored, Err: res.Error}
	if res.File >= 0 && res.File < len(a.o.Files) {
		r.Path, r.Size = a.o.Files[res.File].Path, a.o.Files[res.File].Size
	}
	a.left--
	if res.Error == "" {
		a.ok++
		a.bytes += max(r.Size, 0)
	} else {
		a.bad++
		r.Status = Failed
	}
	end := a.left <= 0
	if end {
		delete(s.running, res.Transfer)
	}
	s.mu.Unlock()
	s.events.push(FileDone{Offer: a.o.N, File: res.File, From: a.o.From, Transfer: res.Transfer, Report: r})
	if end {
		s.events.push(a.done(false))
	}
}

func (a *arriving) done(cut bool) OfferDone {
	return OfferDone{Offer: a.o, Received: a.ok, Failed: a.bad, Left: a.left, Bytes: a.bytes, Elapsed: time.Since(a.start), Cut: cut}
}

// cut ends what the lost connection c had: the offers waiting for an
// answer (the hub withdrew them) and those arriving (what came of them
// resumes when their senders offer them again).
func (s *Session) cut(c *Client) {
	s.mu.Lock()
	var gone []Offer
	s.waiting = slices.DeleteFunc(s.waiting, func(w waitingN) bool {
		if w.c == c {
			gone = append(gone, w.o)
		}
		return w.c == c
	})
	arrived := s.running
	s.running = map[string]*arriving{}
	s.mu.Unlock()
	for _, o := range gone {
		if o.Held != nil {
			s.heldDone(o.Held.ID) // offered again once the session is back
		}
		s.events.push(Withdrawn{Offer: o, Reason: "connection lost"})
	}
	for _, a := range arrived {
		s.events.push(a.done(true))
	}
}

// Offers returns the offers waiting for an answer, oldest first.
func (s *Session) Offers() []Offer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Offer, len(s.waiting))
	for i, w := range s.waiting {
		out[i] = w.o
	}
	return out
}

// take removes the waiting offer n.
func (s *Session) take(n int) (waitingN, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.waiting, func(w waitingN) bool { return w.o.N == n })
	if i < 0 {
		return waitingN{}, fmt.Errorf("offer %d is not waiting for an answer: %w", n, ErrNoOffer)
	}
	w := s.waiting[i]
	s.waiting = slices.Delete(s.waiting, i, i+1)
	return w, nil
}

// Accept receives offer n, one that waits for an answer, into
// SessionConfig.Dir. It fails, wrapping ErrNoOffer, if the offer is not
// waiting (answered, withdrawn, or gone with a lost connection), or with
// the reason the offer cannot be received (an unsafe path, no room),
// which its sender is told too.
func (s *Session) Accept(n int) error {
	w, err := s.take(n)
	if err != nil {
		return err
	}
	w.o.Decision = Accept
	if w.held != nil {
		s.acceptHeld(w)
		return nil
	}
	s.pinPeer(w.o.From, w.o.FromIdentity)
	s.mu.Lock()
	s.arrivingLocked(w.o) // before the first byte can come
	s.mu.Unlock()
	if err := w.c.Answer(w.o.Transfer, true); err != nil {
		s.mu.Lock()
		delete(s.running, w.o.Transfer)
		s.mu.Unlock()
		return answerError(n, err)
	}
	return nil
}

// Decline refuses offer n, one that waits for an answer, telling its
// sender why (reason, or "declined").
func (s *Session) Decline(n int, reason string) error {
	w, err := s.take(n)
	if err != nil {
		return err
	}
	if w.held != nil {
		s.declineHeld(w.c, w.held)
		return nil
	}
	return answerError(n, w.c.Decline(w.o.Transfer, reason))
}

func answerError(n int, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNoOffer) || errors.Is(err, mux.ErrClosed):
		return fmt.Errorf("offer %d is no longer waiting (withdrawn, or the connection was replaced): %w", n, ErrNoOffer)
	}
	return fmt.Errorf("offer %d: %w", n, err)
}
