package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/muxfer/muxfer/internal/datastream"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
	"golang.org/x/time/rate"
)

// inLink is a link another client opened to this one (see link.go): it
// brings that client's offers, the files of those accepted, and its
// direct messages.
type inLink struct {
	c        *Client
	s        *mux.Session
	peer     string // the caller's name, as the hub gave it
	peerID   uint64
	identity string // the caller's identity, in hex, as it proved it; "" if it proved none to the hub
	chat     *rate.Limiter

	mu  sync.Mutex
	ids map[string]string // the inbox's id of each of the caller's open transfers, by the caller's

	ended bool // guarded by Client.mu: the link has ended, and nothing more is accepted on it
}

// maxLinkTransfers bounds the offers one link may have waiting or open.
const maxLinkTransfers = 64

// answer serves a channel the hub opened to this client, whose header h
// names the caller, until the caller ends it or either side leaves. It
// runs on the stream's goroutine.
func (c *Client) answer(ctx context.Context, st *mux.Stream, h protocol.DataHeader) {
	ch := st.Channel()
	s, err := mux.Answer(ctx, ch, c.peerConfig(), func(k ed25519.PublicKey) error {
		// The hub names the caller and its identity; TLS proves the
		// identity. A caller without one at the hub uses a throwaway.
		if h.FromIdentity != "" && h.FromIdentity != hex.EncodeToString(k) {
			return errors.New("you proved another identity on this link than on the hub")
		}
		return nil
	})
	if err != nil {
		return
	}
	l := &inLink{c: c, s: s, peer: h.From, peerID: h.FromID, identity: h.FromIdentity, ids: map[string]string{},
		chat: peerPace(c.welcome)}
	c.mu.Lock()
	if c.inLinks == nil { // closing
		c.mu.Unlock()
		s.Close()
		return
	}
	c.inLinks[l] = struct{}{}
	c.mu.Unlock()
	var wg sync.WaitGroup
	// Streams are accepted even without an inbox: one then breaks the
	// protocol and ends the link, rather than wait unread.
	wg.Go(func() { l.acceptStreams(ctx) })
	why := l.read()
	s.Close()
	wg.Wait()
	c.mu.Lock()
	delete(c.inLinks, l)
	c.mu.Unlock()
	c.linkEnded(l, why)
}

// read serves the caller's control messages until the link ends, and
// returns why it ended, as the sender's reason for what it left.
func (l *inLink) read() string {
	for {
		m, err := l.s.Recv()
		if err != nil {
			return fmt.Sprintf("%s left", l.peer)
		}
		switch m := m.(type) {
		case protocol.Offer:
			l.offer(m)
		case protocol.Result:
			l.cancel(m)
		case protocol.Chat:
			if len(m.Text) > protocol.MaxChatLen || !l.chat.Allow() {
				l.s.Send(protocol.Error{Code: protocol.CodeLimit, Text: "direct messages too long or too fast"})
				return fmt.Sprintf("%s broke the rules", l.peer)
			}
			l.c.heard(protocol.Chat{From: l.peer, FromID: l.peerID, FromIdentity: l.identity, To: l.c.Name(), Text: m.Text})
		}
	}
}

// offer takes an offer from the caller to the inbox, under an id of the
// inbox's, with the caller's name and identity as the link knows them
// (not as the offer says). Its resume tokens are the caller's for this
// recipient alone (see peerResumeKey).
func (l *inLink) offer(o protocol.Offer) {
	c := l.c
	if c.inbox == nil {
		l.reject(o.Transfer, "not receiving files")
		return
	}
	id := o.Transfer
	if err := transfer.CheckOffer(o); err != nil {
		// Checked before anyone is asked, as a hub checks an upload.
		l.s.Send(protocol.Reject{Transfer: protocol.Clip(id, 64), Reason: err.Error()})
		return
	}
	local, err := l.assign(id)
	if err != nil {
		l.reject(id, err.Error())
		return
	}
	o.Transfer, o.From, o.FromID, o.FromIdentity, o.To, o.ToIdentity = local, l.peer, l.peerID, l.identity, "", ""
	c.offered(l, id, o)
}

// assign gives the caller's transfer id the inbox's own, unless it is in
// use on the link or the link has too many open.
func (l *inLink) assign(id string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.ids[id] != "":
		return "", errors.New("transfer id already in use")
	case len(l.ids) >= maxLinkTransfers:
		return "", fmt.Errorf("more than %d transfers at once", maxLinkTransfers)
	}
	var b [16]byte
	rand.Read(b[:])
	local := hex.EncodeToString(b[:])
	l.ids[id] = local
	return local, nil
}

// local returns the inbox's id for the caller's transfer id, or "".
func (l *inLink) local(id string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ids[id]
}

// forget ends the caller's transfer id on the link.
func (l *inLink) forget(id string) {
	l.mu.Lock()
	delete(l.ids, id)
	l.mu.Unlock()
}

// reject refuses the caller's transfer id, and forgets it.
func (l *inLink) reject(id, reason string) error {
	l.forget(id)
	return l.s.Send(protocol.Reject{Transfer: id, Reason: reason})
}

// cancel handles a Result from the caller: it will not send that file.
func (l *inLink) cancel(r protocol.Result) {
	local := l.local(r.Transfer)
	if local == "" {
		return
	}
	if a := l.c.arriving(local); a != nil {
		l.c.cancelled(a, local, r)
	} else {
		l.c.cancelledWaiting(local, r)
	}
}

// acceptStreams receives the caller's data streams, each on a goroutine
// of its own, until the link ends. The caller opens at most
// protocol.MaxDataStreams at once.
func (l *inLink) acceptStreams(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		st, err := l.s.AcceptData(ctx)
		if err != nil {
			return
		}
		wg.Go(func() {
			defer st.Close()
			l.receive(st)
		})
	}
}

// receive stores the files of one data stream, one after another, and
// answers for each, until the caller closes the stream. A stream for a
// transfer the inbox did not accept breaks the protocol and ends the
// link.
func (l *inLink) receive(st *mux.Stream) {
	fs := datastream.NewReader(st)
	for {
		h, err := fs.Next()
		if err != nil {
			return // the end, or a cut that ended the link or the stream
		}
		id := h.Transfer
		local := l.local(id)
		var a *arrival
		if local != "" {
			a = l.c.arriving(local)
		}
		if a == nil {
			l.s.Send(protocol.Error{Code: protocol.CodeBadMessage, Text: fmt.Sprintf("data stream for unknown transfer %q", protocol.Clip(id, 64))})
			l.s.Close()
			return
		}
		h.Transfer = local
		res, err := a.in.Receive(h, fs)
		if err != nil {
			l.s.Send(protocol.Error{Code: protocol.CodeBadMessage, Text: err.Error()})
			l.s.Close()
			return
		}
		sent := res
		sent.Transfer = id
		l.s.Send(sent)
		l.c.inbox.received(res)
		l.c.endIfDone(a)
		if fs.Broken() != nil {
			fs.Drain() // until the caller closes its side
			return
		}
	}
}

// peerPace is the allowance of direct messages on a link: the hub's chat
// rate (its welcome's), or if it announces none the hub's default, 20 a
// second in bursts of 100.
func peerPace(w protocol.Welcome) *rate.Limiter {
	if w.ChatPerSecond <= 0 {
		return rate.NewLimiter(20, 100)
	}
	return rate.NewLimiter(rate.Limit(w.ChatPerSecond), max(w.ChatBurst, 1))
}
