package client

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/muxfer/muxfer/internal/datastream"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// Decision is OnOffer's answer to an offer from another client.
type Decision int

const (
	Decline Decision = iota // refuse the offer
	Accept                  // receive its files into Config.Inbox
	Ask                     // keep it waiting for Client.Answer
)

// maxWaiting bounds the offers waiting for Answer; the hub bounds them
// too (64 relays to a client), so this only guards against a hub that
// does not.
const maxWaiting = 64

// ErrNoOffer is returned by Answer for an offer that is not waiting: never
// made, answered already, or withdrawn.
var ErrNoOffer = errors.New("no such offer is waiting")

// inbox receives the files other clients send to this one through the
// hub: it answers their offers and stores the files of the data streams
// the hub opens, as the hub stores uploads (see transfer.Receiver).
type inbox struct {
	root      *os.Root
	recv      *transfer.Receiver
	decide    func(protocol.Offer) Decision
	withdrawn func(protocol.Offer, string)
	received  func(protocol.Result)
	progress  func(string, int, int)

	cancel context.CancelFunc // ends the accept loop
	// Guarded by Client.mu: transfers accepted and not yet done, by the
	// hub's id; nil once the inbox is closed.
	transfers map[string]*transfer.Incoming
	// Guarded by Client.mu: offers waiting for Answer, oldest first.
	waiting []*waitingOffer
}

// waitingOffer is an offer waiting for Answer, and the regular files of
// it that the sender has not cancelled yet.
type waitingOffer struct {
	offer protocol.Offer
	left  int
}

// openInbox opens (creating it if needed) the folder of cfg.Inbox.
func openInbox(cfg Config) (*inbox, error) {
	if err := os.MkdirAll(cfg.Inbox, 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(cfg.Inbox)
	if err != nil {
		return nil, err
	}
	recv := transfer.NewReceiver(root)
	recv.KeepParts = max(cfg.KeepParts, 0)
	recv.OpenRecords() // without them, resume works within one run only
	in := &inbox{root: root, recv: recv, decide: cfg.OnOffer, withdrawn: cfg.OnWithdrawn,
		received: cfg.OnReceived, progress: cfg.OnProgress, transfers: map[string]*transfer.Incoming{}}
	if in.decide == nil {
		in.decide = func(protocol.Offer) Decision { return Decline }
	}
	if in.withdrawn == nil {
		in.withdrawn = func(protocol.Offer, string) {}
	}
	if in.received == nil {
		in.received = func(protocol.Result) {}
	}
	return in, nil
}

// offered answers an offer relayed from another client: it declines it if
// this client has no inbox or OnOffer says no, keeps it for Answer if
// OnOffer says Ask, and otherwise accepts it. It runs on the reading
// goroutine.
func (c *Client) offered(o protocol.Offer) {
	if c.inbox == nil {
		c.sess.Send(protocol.Reject{Transfer: o.Transfer, Reason: "not receiving files"})
		return
	}
	// The offer waits from before OnOffer sees it, so that an Answer
	// made as soon as OnOffer has told someone finds it.
	w := &waitingOffer{offer: o}
	for _, f := range o.Files {
		if !f.Dir {
			w.left++
		}
	}
	c.mu.Lock()
	full := len(c.inbox.waiting) >= maxWaiting
	if !full {
		c.inbox.waiting = append(c.inbox.waiting, w)
	}
	c.mu.Unlock()
	if full {
		c.sess.Send(protocol.Reject{Transfer: o.Transfer, Reason: fmt.Sprintf("%d offers are waiting for an answer already", maxWaiting)})
		return
	}
	d := c.inbox.decide(o)
	if d == Ask || c.takeWaiting(o.Transfer) == nil {
		return // waits for Answer, or Answer came first
	}
	if d == Accept {
		c.accept(o)
	} else {
		c.sess.Send(protocol.Reject{Transfer: o.Transfer, Reason: "declined"})
	}
}

// accept prepares to receive o (which may still refuse it: an unsafe
// path, no room) and accepts it.
func (c *Client) accept(o protocol.Offer) error {
	in, err := c.inbox.recv.Prepare(o)
	if err != nil {
		c.sess.Send(protocol.Reject{Transfer: o.Transfer, Reason: err.Error()})
		return err
	}
	if c.inbox.progress != nil {
		id := o.Transfer
		in.OnProgress(func(file, n int) { c.inbox.progress(id, file, n) })
	}
	if !in.Done() {
		c.mu.Lock()
		if c.inbox.transfers == nil { // closed meanwhile
			c.mu.Unlock()
			in.Abandon()
			return mux.ErrClosed
		}
		c.inbox.transfers[o.Transfer] = in
		c.mu.Unlock()
	}
	return c.sess.Send(in.Accept())
}

// Answer answers an offer that OnOffer kept waiting (Ask), by its id
// (Offer.Transfer): accept receives it into Config.Inbox, and otherwise
// it is declined. It returns ErrNoOffer if no such offer is waiting, and
// the reason if the offer cannot be received (an unsafe path, no room):
// the sender is then told that reason.
func (c *Client) Answer(transfer string, accept bool) error {
	if !accept {
		return c.Decline(transfer, "")
	}
	o := c.takeWaiting(transfer)
	if o == nil {
		return ErrNoOffer
	}
	return c.accept(o.offer)
}

// Decline declines an offer waiting for an answer, telling its sender
// why: the sender sees "NAME: reason". OnOffer may call it itself, for an
// offer it then returns Ask for, to decline with a reason of its own.
// It returns ErrNoOffer if no such offer is waiting.
func (c *Client) Decline(transfer, reason string) error {
	if c.takeWaiting(transfer) == nil {
		return ErrNoOffer
	}
	if reason == "" {
		reason = "declined"
	}
	return c.sess.Send(protocol.Reject{Transfer: transfer, Reason: reason})
}

// Waiting returns the offers waiting for Answer, oldest first.
func (c *Client) Waiting() []protocol.Offer {
	if c.inbox == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]protocol.Offer, len(c.inbox.waiting))
	for i, w := range c.inbox.waiting {
		out[i] = w.offer
	}
	return out
}

// takeWaiting removes the waiting offer id and returns it, or nil.
func (c *Client) takeWaiting(id string) *waitingOffer {
	if c.inbox == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, w := range c.inbox.waiting {
		if w.offer.Transfer == id {
			c.inbox.waiting = append(c.inbox.waiting[:i:i], c.inbox.waiting[i+1:]...)
			return w
		}
	}
	return nil
}

// withdrawn handles a Reject from the hub: for a waiting offer it means
// the offer is withdrawn. It reports whether m was for one.
func (c *Client) withdrawn(m protocol.Reject) bool {
	w := c.takeWaiting(m.Transfer)
	if w == nil {
		return false
	}
	c.inbox.withdrawn(w.offer, m.Reason)
	return true
}

// cancelledWaiting handles a Result from the hub that cancels a file of a
// waiting offer (the sender will not send it); once every file is
// cancelled the offer is withdrawn. It reports whether m was for one.
func (c *Client) cancelledWaiting(m protocol.Result) bool {
	if c.inbox == nil {
		return false
	}
	c.mu.Lock()
	var w *waitingOffer
	left := 0
	for _, x := range c.inbox.waiting {
		if x.offer.Transfer == m.Transfer {
			w = x
			w.left--
			left = w.left
			break
		}
	}
	c.mu.Unlock()
	if w == nil {
		return false
	}
	if left <= 0 && c.takeWaiting(m.Transfer) != nil {
		c.inbox.withdrawn(w.offer, m.Error)
	}
	return true
}

// incoming returns the transfer the hub relays under id, or nil.
func (c *Client) incoming(id string) *transfer.Incoming {
	if c.inbox == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inbox.transfers[id]
}

// cancelled handles a Result from the hub for a relayed transfer: the
// sender will not send that file (it gave up on it, or left). OnReceived
// hears of it as the file's outcome.
func (c *Client) cancelled(in *transfer.Incoming, r protocol.Result) {
	if in.Cancel(r.File) {
		c.inbox.received(protocol.Result{Transfer: r.Transfer, File: r.File, Error: "cancelled by the sender: " + r.Error})
	}
	c.endIfDone(in)
}

func (c *Client) endIfDone(in *transfer.Incoming) {
	if in.Done() {
		c.mu.Lock()
		delete(c.inbox.transfers, in.Transfer())
		c.mu.Unlock()
	}
}

// acceptStreams receives the data streams the hub opens to relay files,
// each on a goroutine of its own, until the session ends. The hub opens
// at most protocol.MaxDataStreams at once.
func (c *Client) acceptStreams(ctx context.Context) {
	defer c.wg.Done()
	for {
		st, err := c.sess.AcceptData(ctx)
		if err != nil {
			return
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer st.Close()
			c.receive(st)
		}()
	}
}

// receive stores the files of one data stream, one after another, and
// answers for each, until the hub closes the stream.
func (c *Client) receive(st *mux.Stream) {
	fs := datastream.NewReader(st)
	for {
		h, err := fs.Next()
		if err != nil {
			return // the end, or a cut that ended the session or the stream
		}
		in := c.incoming(h.Transfer)
		if in == nil {
			// The hub relays only what this client accepted: out of step.
			st.Abort()
			return
		}
		res, err := in.Receive(h, fs)
		if err != nil {
			st.Abort()
			return
		}
		c.sess.Send(res)
		c.inbox.received(res)
		c.endIfDone(in)
		if fs.Broken() != nil {
			fs.Drain() // until the hub closes its side
			return
		}
	}
}

// close stops receiving: it abandons the transfers still open, which
// releases the space promised to them, and closes the folder. The
// session and every goroutine that used the inbox have ended.
func (in *inbox) close() error {
	for _, t := range in.transfers {
		t.Abandon()
	}
	in.transfers = nil
	in.waiting = nil
	in.recv.CloseRecords()
	return in.root.Close()
}
