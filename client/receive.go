package client

import (
	"errors"
	"fmt"
	"os"
	"time"

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

// maxWaiting bounds the offers waiting for Answer, from everyone.
const maxWaiting = 64

// DefaultOfferTimeout is how long an offer waits for Answer when
// Config.OfferTimeout is 0.
const DefaultOfferTimeout = 10 * time.Minute

// ErrNoOffer is returned by Answer for an offer that is not waiting: never
// made, answered already, or withdrawn.
var ErrNoOffer = errors.New("no such offer is waiting")

// inbox receives the files other clients send to this one, each on a link
// of their own (inlink.go): it answers their offers and stores the files
// of their data streams, as the hub stores uploads (see
// transfer.Receiver). It knows each offer by an id of its own, unique
// among every link's (two senders may pick the same), which is what
// OnOffer, Answer and the other callbacks see.
type inbox struct {
	root      *os.Root
	recv      *transfer.Receiver
	decide    func(protocol.Offer) Decision
	withdrawn func(protocol.Offer, string)
	received  func(protocol.Result)
	progress  func(string, int, int)
	timeout   time.Duration // how long an offer waits for Answer

	// Guarded by Client.mu: transfers accepted and not yet done, by
	// their id here; nil once the inbox is closed.
	transfers map[string]*arrival
	// Guarded by Client.mu: offers waiting for Answer, oldest first.
	waiting []*waitingOffer
}

// arrival is an accepted transfer, and the link it comes on.
type arrival struct {
	in   *transfer.Incoming
	from *inLink
	id   string // the sender's id for it
}

// waitingOffer is an offer waiting for Answer, the regular files of it
// that the sender has not cancelled yet, and the link it came on.
type waitingOffer struct {
	offer protocol.Offer // with the inbox's id
	left  int
	from  *inLink
	id    string      // the sender's id for it
	timer *time.Timer // withdraws it at the offer timeout
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
		received: cfg.OnReceived, progress: cfg.OnProgress, timeout: cfg.OfferTimeout, transfers: map[string]*arrival{}}
	if in.decide == nil {
		in.decide = func(protocol.Offer) Decision { return Decline }
	}
	if in.withdrawn == nil {
		in.withdrawn = func(protocol.Offer, string) {}
	}
	if in.received == nil {
		in.received = func(protocol.Result) {}
	}
	if in.timeout <= 0 {
		in.timeout = DefaultOfferTimeout
	}
	return in, nil
}

// offered answers an offer that came on link l, under the inbox's id
// local (the sender's is id): it declines it if OnOffer says no, keeps it
// for Answer if OnOffer says Ask, and otherwise accepts it. It runs on
// the link's reading goroutine.
func (c *Client) offered(l *inLink, id string, o protocol.Offer) {
	w := &waitingOffer{offer: o, from: l, id: id}
	for _, f := range o.Files {
		if !f.Dir {
			w.left++
		}
	}
	// The offer waits from before OnOffer sees it, so that an Answer
	// made as soon as OnOffer has told someone finds it.
	c.mu.Lock()
	full := len(c.inbox.waiting) >= maxWaiting
	if !full {
		c.inbox.waiting = append(c.inbox.waiting, w)
		w.timer = time.AfterFunc(c.inbox.timeout, func() { c.expire(o.Transfer) })
	}
	c.mu.Unlock()
	if full {
		l.reject(id, fmt.Sprintf("%s has %d transfers to receive already", c.Name(), maxWaiting))
		return
	}
	d := c.inbox.decide(o)
	if d == Ask {
		return // waits for Answer
	}
	w = c.takeWaiting(o.Transfer)
	if w == nil {
		return // Answer came first
	}
	if d == Accept {
		c.accept(w)
	} else {
		w.from.reject(w.id, "declined")
	}
}

// expire withdraws an offer left waiting for the offer timeout: the
// sender is told, and OnWithdrawn.
func (c *Client) expire(local string) {
	w := c.takeWaiting(local)
	if w == nil {
		return
	}
	why := fmt.Sprintf("%s did not answer within %s", c.Name(), c.inbox.timeout)
	w.from.reject(w.id, why)
	c.inbox.withdrawn(w.offer, why)
}

// accept prepares to receive w's offer (which may still refuse it: an
// unsafe path, no room) and accepts it.
func (c *Client) accept(w *waitingOffer) error {
	o := w.offer
	in, err := c.inbox.recv.Prepare(o)
	if err != nil {
		w.from.reject(w.id, err.Error())
		w.from.forget(w.id)
		return err
	}
	if c.inbox.progress != nil {
		id := o.Transfer
		in.OnProgress(func(file, n int) { c.inbox.progress(id, file, n) })
	}
	if in.Done() {
		w.from.forget(w.id)
	} else {
		c.mu.Lock()
		if c.inbox.transfers == nil || w.from.ended { // closed, or the sender left, meanwhile
			c.mu.Unlock()
			in.Abandon()
			return errClosed
		}
		c.inbox.transfers[o.Transfer] = &arrival{in: in, from: w.from, id: w.id}
		c.mu.Unlock()
	}
	a := in.Accept()
	a.Transfer = w.id
	if err := w.from.s.Send(a); err != nil {
		// The link is gone: nothing will come for it.
		c.mu.Lock()
		delete(c.inbox.transfers, o.Transfer)
		c.mu.Unlock()
		in.Abandon()
		w.from.forget(w.id)
		return err
	}
	return nil
}

var errClosed = errors.New("client closed, or the sender left")

// Answer answers an offer that OnOffer kept waiting (Ask), by its id
// (Offer.Transfer): accept receives it into Config.Inbox, and otherwise
// it is declined. It returns ErrNoOffer if no such offer is waiting, and
// the reason if the offer cannot be received (an unsafe path, no room):
// the sender is then told that reason.
func (c *Client) Answer(transfer string, accept bool) error {
	if !accept {
		return c.Decline(transfer, "")
	}
	w := c.takeWaiting(transfer)
	if w == nil {
		return ErrNoOffer
	}
	return c.accept(w)
}

// Decline declines an offer waiting for an answer, telling its sender
// why: the sender sees "NAME: reason". OnOffer may call it itself, for an
// offer it then returns Ask for, to decline with a reason of its own.
// It returns ErrNoOffer if no such offer is waiting.
func (c *Client) Decline(transfer, reason string) error {
	w := c.takeWaiting(transfer)
	if w == nil {
		return ErrNoOffer
	}
	if reason == "" {
		reason = "declined"
	}
	return w.from.reject(w.id, reason)
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

// takeWaiting removes the waiting offer id (the inbox's) and returns it,
// or nil.
func (c *Client) takeWaiting(id string) *waitingOffer {
	if c.inbox == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, w := range c.inbox.waiting {
		if w.offer.Transfer == id {
			c.inbox.waiting = append(c.inbox.waiting[:i:i], c.inbox.waiting[i+1:]...)
			w.timer.Stop()
			return w
		}
	}
	return nil
}

// cancelledWaiting handles a cancelling Result for file r.File of the
// waiting offer local: once every file is cancelled the offer is
// withdrawn. It reports whether local was waiting.
func (c *Client) cancelledWaiting(local string, r protocol.Result) bool {
	c.mu.Lock()
	var w *waitingOffer
	left := 0
	for _, x := range c.inbox.waiting {
		if x.offer.Transfer == local {
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
	if left <= 0 && c.takeWaiting(local) != nil {
		w.from.forget(w.id)
		c.inbox.withdrawn(w.offer, r.Error)
	}
	return true
}

// arriving returns the accepted transfer local, or nil.
func (c *Client) arriving(local string) *arrival {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inbox.transfers[local]
}

// cancelled handles a cancelling Result for a file of an accepted
// transfer: the sender will not send it (it gave up on it, or left).
// OnReceived hears of it as the file's outcome.
func (c *Client) cancelled(a *arrival, local string, r protocol.Result) {
	if a.in.Cancel(r.File) {
		c.inbox.received(protocol.Result{Transfer: local, File: r.File, Error: "cancelled by the sender: " + r.Error})
	}
	c.endIfDone(a)
}

// endIfDone forgets a transfer once every file has its outcome.
func (c *Client) endIfDone(a *arrival) {
	if !a.in.Done() {
		return
	}
	c.mu.Lock()
	delete(c.inbox.transfers, a.in.Transfer())
	c.mu.Unlock()
	a.from.forget(a.id)
}

// linkEnded ends what came on link l, which has closed: its waiting
// offers are withdrawn, and the files of its transfers that had not
// begun to arrive are cancelled (those on their way fail as their
// streams end).
func (c *Client) linkEnded(l *inLink, why string) {
	if c.inbox == nil {
		return
	}
	c.mu.Lock()
	l.ended = true
	if c.inLinks == nil || isDone(c.sess.Done()) {
		// The connection to the hub ended, and every link with it: what
		// waited or arrived on them ends with the connection (Close).
		c.mu.Unlock()
		return
	}
	var gone []*waitingOffer
	keep := c.inbox.waiting[:0:0]
	for _, w := range c.inbox.waiting {
		if w.from == l {
			w.timer.Stop()
			gone = append(gone, w)
		} else {
			keep = append(keep, w)
		}
	}
	c.inbox.waiting = keep
	var arrivals []*arrival
	for _, a := range c.inbox.transfers {
		if a.from == l {
			arrivals = append(arrivals, a)
		}
	}
	c.mu.Unlock()
	for _, w := range gone {
		c.inbox.withdrawn(w.offer, why)
	}
	for _, a := range arrivals {
		for i := range a.in.Entries() {
			c.cancelled(a, a.in.Transfer(), protocol.Result{File: i, Error: why})
		}
		c.endIfDone(a)
	}
}

// close stops receiving: it abandons the transfers still open, which
// releases the space promised to them, and closes the folder. Every link
// and every goroutine that used the inbox have ended.
func (in *inbox) close() error {
	for _, a := range in.transfers {
		a.in.Abandon()
	}
	for _, w := range in.waiting {
		w.timer.Stop()
	}
	in.transfers = nil
	in.waiting = nil
	in.recv.CloseRecords()
	return in.root.Close()
}
