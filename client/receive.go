package client

import (
	"context"
	"os"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// inbox receives the files other clients send to this one through the
// hub: it answers their offers and stores the files of the data streams
// the hub opens, as the hub stores uploads (see transfer.Receiver).
type inbox struct {
	root     *os.Root
	recv     *transfer.Receiver
	decide   func(protocol.Offer) bool
	received func(protocol.Result)

	cancel context.CancelFunc // ends the accept loop
	// Guarded by Client.mu: transfers accepted and not yet done, by the
	// hub's id.
	transfers map[string]*transfer.Incoming
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
	recv.OpenRecords() // without them, resume works within one run only
	in := &inbox{root: root, recv: recv, decide: cfg.OnOffer, received: cfg.OnReceived,
		transfers: map[string]*transfer.Incoming{}}
	if in.decide == nil {
		in.decide = func(protocol.Offer) bool { return false }
	}
	if in.received == nil {
		in.received = func(protocol.Result) {}
	}
	return in, nil
}

// offered answers an offer relayed from another client: it declines it if
// this client has no inbox or OnOffer says no, and otherwise prepares to
// receive it (which may still refuse it: an unsafe path, no room) and
// accepts it. It runs on the reading goroutine.
func (c *Client) offered(o protocol.Offer) {
	if c.inbox == nil {
		c.sess.Send(protocol.Reject{Transfer: o.Transfer, Reason: "not receiving files"})
		return
	}
	if !c.inbox.decide(o) {
		c.sess.Send(protocol.Reject{Transfer: o.Transfer, Reason: "declined"})
		return
	}
	in, err := c.inbox.recv.Prepare(o)
	if err != nil {
		c.sess.Send(protocol.Reject{Transfer: o.Transfer, Reason: err.Error()})
		return
	}
	if !in.Done() {
		c.mu.Lock()
		c.inbox.transfers[o.Transfer] = in
		c.mu.Unlock()
	}
	c.sess.Send(in.Accept())
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
// sender will not send that file (it gave up on it, or left).
func (c *Client) cancelled(in *transfer.Incoming, r protocol.Result) {
	in.Cancel(r.File)
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
	fs := transfer.NewFileStream(st)
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
	in.recv.CloseRecords()
	return in.root.Close()
}
