// Package client is the library behind muxfer's send, recv and chat
// commands. A program starts with Connect: the Session it returns keeps a
// place on a hub for as long as the program wants it (it reconnects,
// keeps the name, resumes sends), chats, sends files to the hub or to a
// person (Session.Send), receives what people offer (SessionConfig.Dir,
// Session.Accept), and tells the program what happens as one ordered
// stream of events (Session.Events).
//
// Client is the layer under it: one connection, with callbacks, that
// ends when the connection does.
package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/muxfer/muxfer/internal/datastream"
	"github.com/muxfer/muxfer/internal/route"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
	"golang.org/x/time/rate"
)

// Config configures a Client.
type Config struct {
	Name string // requested name; the hub may add a suffix
	// DefaultName marks Name as a default, as SessionConfig.DefaultName.
	DefaultName bool
	Software    string // sent in Hello, e.g. "muxfer 0.1.0"
	// Identity, if set, is proved to the hub (it takes the place of
	// Mux.Identity), as SessionConfig.Identity.
	Identity *Identity
	// HubKey is a members-only hub's public key, and Invitation the
	// secret of an invitation to it, as in SessionConfig.
	HubKey     ed25519.PublicKey
	Invitation []byte
	Mux        mux.Config
	// OnMessage receives what the hub says that is not an answer to a
	// request of this client: Chat, Presence, Notice, Clients and Nick
	// (when nobody is waiting in Who or Rename), Error and Bye; and the
	// direct messages other clients send this one end to end (Chat with
	// To set, From and FromIdentity as their link proved them). It is
	// called one message at a time, in order for each sender, so it must
	// not block for long.
	OnMessage func(protocol.Message)

	// Inbox, if set, is the folder where this client stores the files
	// other clients send it through the hub (Offer.To, SendOptions.To),
	// with the same checks and the same resume as the hub's uploads. It
	// is created if missing. Without it, every such offer is declined.
	Inbox string
	// KeepParts is how long the part of a file cut on its way into Inbox
	// is kept for its sender to resume, as the hub's Config.KeepParts:
	// parts older than that are removed in the background when the
	// client connects (looking at most at maxSweep entries of Inbox).
	// 0 means transfer.DefaultKeepParts (48 hours); less than 0, never.
	KeepParts time.Duration
	// OnOffer decides on each offer another client makes (Offer.From
	// names it, Offer.FromIdentity is the identity its link proved,
	// Offer.Files lists every entry): Accept, Decline, or Ask, which
	// keeps the offer waiting for Client.Answer (a person reads it
	// first). nil declines every offer. It is called from the sender's
	// link's reading goroutine, so it must not block: a program that
	// asks a person returns Ask. An offer left unanswered for
	// OfferTimeout is withdrawn.
	OnOffer func(protocol.Offer) Decision
	// OfferTimeout is how long an offer waits for Answer before it is
	// withdrawn (both sides are told); 0 means DefaultOfferTimeout.
	OfferTimeout time.Duration
	// OnWithdrawn, if set, is told that an offer waiting for Answer is
	// gone, and why: the sender cancelled it or left, or OfferTimeout
	// passed.
	OnWithdrawn func(o protocol.Offer, reason string)
	// OnReceived, if set, is told the outcome of each regular file of an
	// accepted offer, once: Stored and Hash, or Error (its bytes were
	// cut or did not verify, or the sender cancelled it or left). It is
	// called from the goroutine of the file's data stream, or of the
	// sender's link, concurrently with others.
	OnReceived func(protocol.Result)
	// OnWaiting, if set, is told of the held transfers that wait for this
	// client on the hub (files sealed for it while it was away): when it
	// connects, and when one more is held for it. It is called from the
	// reading goroutine, so it must not block.
	OnWaiting func([]protocol.Hold)
	// OnProgress, if set, is told of the bytes written into Inbox for
	// file file (its index in the Offer) of the transfer with id
	// transfer (the Offer's), as they are written. It is called from the
	// goroutines of the data streams, concurrently.
	OnProgress func(transfer string, file, n int)
}

// maxSweep bounds the entries of Inbox that a client looks at for old
// parts each time it connects.
const maxSweep = 100_000

// Client is a connection to a hub. Its methods are safe for concurrent use.
type Client struct {
	sess    *mux.Session
	welcome protocol.Welcome
	mcfg    mux.Config
	self    ed25519.PrivateKey // the identity of this client's links: Config.Identity's, or a throwaway
	onMsg   func(protocol.Message)
	msgMu   sync.Mutex    // one OnMessage at a time
	pace    *rate.Limiter // keeps chat, nick and who within the hub's rate (newPace)
	subs    route.Table   // the transfers this client uploads

	// ask is held from a Who's or a Rename's place in its queue to its
	// sending, so that the queues are in the order the hub answers:
	// without it, two Renames at once could each take the other's answer.
	ask sync.Mutex

	mu   sync.Mutex
	name string                       // the hub's name for this client: the Welcome's, then each accepted Rename's
	who  []chan []protocol.ClientInfo // waiting Who calls, oldest first
	nick []chan protocol.Nick         // waiting Rename calls, oldest first

	links   map[string]*outLink      // guarded by mu: links this client opened (link.go), by name; nil once closing
	calling map[string]chan struct{} // guarded by mu: links being opened, by name; closed once they are
	inLinks map[*inLink]struct{}     // guarded by mu: links opened to this client; nil once closing
	linkWG  sync.WaitGroup           // the links' goroutines
	stop    context.CancelFunc       // ends the accept loop and the links it answered

	lists     map[string]chan protocol.Listing // guarded by mu: Lists waiting for their listing, by id
	gets      map[string]*getting              // guarded by mu: Gets on their way, by id (get.go)
	asked     map[string]chan protocol.Message // guarded by mu: Lookups and Holds waiting for their answer, by id
	held      heldSeen                         // the hub's word that a held transfer is stored (hold.go)
	onWaiting func([]protocol.Hold)

	inbox       *inbox         // nil if the client does not receive
	wg          sync.WaitGroup // the accept loop, the links it answered, the inbox's sweep
	inboxClosed sync.Once

	done chan struct{} // closed when the reading goroutine ends
	err  error         // why; set before done is closed
}

// Dial connects to the hub at addr.
//
// The inbox folder (Config.Inbox) is created only once the hub has
// welcomed the client, so that a hub that cannot be reached leaves no
// folder behind.
func Dial(ctx context.Context, addr string, cfg Config) (*Client, error) {
	if cfg.Identity != nil {
		cfg.Mux.Identity = cfg.Identity.key
	}
	if cfg.HubKey != nil {
		cfg.Mux.HubKey, cfg.Mux.Invitation = cfg.HubKey, cfg.Invitation
	}
	sess, w, err := mux.Dial(ctx, addr, protocol.Hello{Name: cfg.Name, DefaultName: cfg.DefaultName, Software: cfg.Software}, cfg.Mux)
	if err != nil {
		return nil, err
	}
	var in *inbox
	if cfg.Inbox != "" {
		if in, err = openInbox(cfg); err != nil {
			sess.Close()
			return nil, fmt.Errorf("inbox: %w", err)
		}
	}
	c := &Client{sess: sess, welcome: w, mcfg: cfg.Mux, self: cfg.Mux.Identity, onMsg: cfg.OnMessage, pace: newPace(w.ChatPerSecond, w.ChatBurst),
		name: w.Name, done: make(chan struct{}), inbox: in, links: map[string]*outLink{}, calling: map[string]chan struct{}{}, inLinks: map[*inLink]struct{}{}}
	if c.self == nil {
		c.self = NewIdentity().key
	}
	if c.onMsg == nil {
		c.onMsg = func(protocol.Message) {}
	}
	if c.onWaiting = cfg.OnWaiting; c.onWaiting == nil {
		c.onWaiting = func([]protocol.Hold) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	c.wg.Go(func() { c.acceptStreams(ctx) })
	if in != nil && cfg.KeepParts >= 0 {
		c.wg.Go(func() { in.recv.SweepContext(ctx, maxSweep) })
	}
	go c.read()
	return c, nil
}

// heard passes m to OnMessage.
func (c *Client) heard(m protocol.Message) {
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	c.onMsg(m)
}

// Name is the name the hub gave this client: the one in its Welcome
// until a Rename succeeds.
func (c *Client) Name() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.name
}

// ID is the id the hub gave this client.
func (c *Client) ID() uint64 { return c.welcome.ID }

// Chat sends a chat message to every other client. A message longer than
// protocol.MaxChatLen is refused here, as the hub would end the session,
// and messages are spaced out to the rate the hub announced in Welcome:
// Chat waits when a script sends faster.
func (c *Client) Chat(text string) error {
	if len(text) > protocol.MaxChatLen {
		return fmt.Errorf("chat message of %d bytes is over the limit of %d", len(text), protocol.MaxChatLen)
	}
	if err := c.waitTurn(); err != nil {
		return err
	}
	return c.sess.Send(protocol.Chat{Text: text})
}

// Message sends a chat message to the client named to only, end to end
// (see link.go), with the same limits as Chat. If nobody of that name is
// connected, the error wraps ErrRecipientAway; the connection stays up.
func (c *Client) Message(to, text string) error { return c.message(to, "", text) }

// message is Message to a client that must have the identity toIdentity
// (hex; none: the one the hub lists), or else fails with a
// *KeyChangedError.
func (c *Client) message(to, toIdentity, text string) error {
	if to == "" {
		return errors.New("direct message without a recipient")
	}
	if len(text) > protocol.MaxChatLen {
		return fmt.Errorf("chat message of %d bytes is over the limit of %d", len(text), protocol.MaxChatLen)
	}
	if err := c.waitTurn(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmpDuration(c.mcfg.HandshakeTimeout, 10*time.Second))
	defer cancel()
	l, err := c.link(ctx, to, toIdentity)
	if err != nil {
		if errors.Is(err, transfer.ErrRecipientAway) {
			return noClient{to}
		}
		return err
	}
	defer c.release(l)
	return l.s.Send(protocol.Chat{Text: text})
}

func cmpDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// ErrNameRefused is wrapped by Rename's error when the hub kept the old
// name.
var ErrNameRefused = errors.New("name refused")

// Rename asks the hub to call this client name from now on, and returns
// the name it has. The hub refuses a name that another client has, or
// that a Hello would not get unchanged (see protocol README, Names): the
// error then wraps ErrNameRefused and says why, the old name stays, and
// the connection stays up. Rename counts against the hub's chat rate,
// like Chat.
func (c *Client) Rename(ctx context.Context, name string) (string, error) {
	if err := c.waitTurn(); err != nil {
		return "", err
	}
	ch := make(chan protocol.Nick, 1)
	c.ask.Lock()
	c.mu.Lock()
	c.nick = append(c.nick, ch)
	c.mu.Unlock()
	err := c.sess.Send(protocol.Nick{Name: name})
	if err != nil {
		c.mu.Lock()
		c.nick = remove(c.nick, ch)
		c.mu.Unlock()
	}
	c.ask.Unlock()
	if err != nil {
		return "", err
	}
	select {
	case n := <-ch:
		if n.Error != "" {
			return n.Name, fmt.Errorf("%w: %s", ErrNameRefused, n.Error)
		}
		return n.Name, nil
	case <-c.done:
		return "", c.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// waitTurn waits until the next chat, nick or who message is within the
// hub's rate.
func (c *Client) waitTurn() error {
	d := c.pace.Reserve().Delay()
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.done:
		return c.err
	}
}

// Who returns the list of connected clients.
func (c *Client) Who(ctx context.Context) ([]protocol.ClientInfo, error) {
	if err := c.waitTurn(); err != nil {
		return nil, err
	}
	ch := make(chan []protocol.ClientInfo, 1)
	c.ask.Lock()
	c.mu.Lock()
	c.who = append(c.who, ch)
	c.mu.Unlock()
	err := c.sess.Send(protocol.Who{})
	if err != nil {
		c.mu.Lock()
		c.who = remove(c.who, ch)
		c.mu.Unlock()
	}
	c.ask.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case list := <-ch:
		return list, nil
	case <-c.done:
		return nil, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Upload sends the files of m to the hub, which stores them in its
// directory, and returns when the hub has answered for every file.
func (c *Client) Upload(ctx context.Context, m *transfer.Manifest, opt transfer.SendOptions) (*transfer.Report, error) {
	if opt.To != "" {
		return c.sendTo(ctx, m, opt)
	}
	rep, err := transfer.Send(ctx, conn{c}, m, opt)
	if errors.Is(err, transfer.ErrConnectionLost) {
		<-c.done
		err = fmt.Errorf("%w: %w", err, c.err)
	}
	return rep, err
}

// Done is closed when the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it lasts.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close says goodbye, closes the connection and waits for the client's
// goroutine to end.
func (c *Client) Close() error {
	c.sess.Send(protocol.Bye{})
	c.mu.Lock()
	links, inLinks := c.links, c.inLinks
	c.links, c.inLinks = nil, nil
	c.mu.Unlock()
	for _, l := range links {
		c.mu.Lock()
		if l.idle != nil {
			l.idle.Stop()
		}
		c.mu.Unlock()
		l.close()
	}
	for l := range inLinks {
		l.s.Close()
	}
	err := c.sess.Close()
	<-c.done
	c.stop()
	c.wg.Wait()
	c.linkWG.Wait()
	if c.inbox != nil {
		c.inboxClosed.Do(func() {
			c.mu.Lock()
			c.inbox.close()
			c.mu.Unlock()
		})
	}
	return err
}

// read is the one goroutine that reads the control stream. It routes
// transfer messages to their transfer and the rest to OnMessage.
func (c *Client) read() {
	defer close(c.done)
	for {
		m, err := c.sess.Recv()
		if err != nil {
			if c.err == nil {
				c.err = err
			}
			return
		}
		switch m := m.(type) {
		case protocol.Accept:
			c.subs.Route(m.Transfer, m)
		case protocol.Reject:
			c.subs.Route(m.Transfer, m)
		case protocol.Result:
			if g, p := c.getPiece(m.Transfer); p != nil {
				g.cancelled(p, m)
			} else {
				c.subs.Route(m.Transfer, m)
			}
		case protocol.Offer:
			if m.Get != "" { // the files of a Get of this client's (get.go)
				c.getOffer(m)
				continue
			}
			// Relayed by the hub, which could read it and could have
			// written it: files come to this client end to end only.
			c.sess.Send(protocol.Reject{Transfer: m.Transfer, Reason: "this client takes files end to end only: the sender's muxfer is too old"})
		case protocol.Listing:
			c.listing(m)
		case protocol.People:
			c.answered(m.ID, m)
		case protocol.Holdings:
			c.answered(m.ID, m)
		case protocol.Held:
			c.held.add(m)
		case protocol.Waiting:
			c.onWaiting(m.Holds)
		case protocol.Got:
			c.gotten(m)
		case protocol.Chat:
			if m.To == "" { // a direct message through the hub is not end to end: dropped
				c.heard(m)
			}
		case protocol.Clients:
			if ch := pop(c, &c.who); ch != nil {
				ch <- m.Clients
			} else {
				c.heard(m)
			}
		case protocol.Nick:
			if m.Error == "" {
				c.mu.Lock()
				c.name = m.Name
				c.mu.Unlock()
			}
			if ch := pop(c, &c.nick); ch != nil {
				ch <- m
			} else {
				c.heard(m)
			}
		case protocol.Bye:
			c.err = fmt.Errorf("hub closed the connection: %s", m.Reason)
			c.heard(m)
			c.sess.Close() // the hub waits for us to hang up
		case protocol.Error:
			c.err = fmt.Errorf("hub refused: %w", &m) // errors.As finds the *protocol.Error
			c.heard(m)
			c.sess.Close() // every Error from a hub ends the session
		default:
			c.heard(m)
		}
	}
}

// pop takes the oldest waiting request off q, one of c's queues, or
// returns nil if none waits.
func pop[T any](c *Client, q *[]chan T) chan T {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(*q) == 0 {
		return nil
	}
	ch := (*q)[0]
	*q = (*q)[1:]
	return ch
}

// remove returns q without ch, a request that was never sent.
func remove[T any](q []chan T, ch chan T) []chan T {
	for i, w := range q {
		if w == ch {
			return append(q[:i], q[i+1:]...)
		}
	}
	return q
}

// conn adapts Client to transfer.Conn.
type conn struct{ c *Client }

func (x conn) Send(m protocol.Message) error { return x.c.sess.Send(m) }
func (x conn) Done() <-chan struct{}         { return x.c.done }
func (x conn) OpenData(ctx context.Context, h protocol.DataHeader) (transfer.DataStream, error) {
	return x.c.sess.OpenData(ctx, h)
}

func (x conn) Subscribe(id string) (<-chan protocol.Message, func()) { return x.c.subs.Subscribe(id) }

// acceptStreams receives the streams the hub opens to this client, each
// on a goroutine of its own, until the session ends: channels from other
// clients (link.go), answered as links, and the files of this client's
// Gets (get.go).
func (c *Client) acceptStreams(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		st, err := c.sess.AcceptData(ctx)
		if err != nil {
			return
		}
		wg.Go(func() {
			defer st.Close()
			fs := datastream.NewReader(st)
			h, err := fs.Next()
			switch {
			case err != nil:
				st.Abort()
			case h.IsChannel():
				c.answer(ctx, st, h)
			default:
				c.receiveGot(st, fs, h)
			}
		})
	}
}
