package client

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// SessionConfig configures a Session.
type SessionConfig struct {
	Name string // the name to ask for; the hub adds a suffix if it is taken
	// DefaultName says that Name is a default the program chose (a login
	// name), not one the person asked for: where another identity owns
	// it, the hub gives a numbered one instead of refusing the session.
	DefaultName bool
	Software    string // sent in Hello, e.g. "muxfer 0.1.0"
	// Key is the hub's access key; it takes the place of Mux.Key, which
	// holds it and the rest of the connection's settings.
	Key Key
	// InsecureNoTLS speaks to a hub started without TLS (serve
	// --insecure-no-tls): nothing is encrypted or authenticated.
	InsecureNoTLS bool
	// Identity, if set, is proved to the hub on every connection: the
	// session's name is then its own on that hub, and nobody else may
	// take it (see IdentityFile). Without it the session may use only
	// names no identity owns.
	Identity *Identity
	// KnownPeers, if set, pins the identity behind each name the session
	// sends to, takes an offer from, or exchanges a direct message with,
	// and stops whatever goes to or comes from a name whose identity is
	// not the pinned one (see KnownPeers). Without it nothing is pinned.
	KnownPeers *KnownPeers
	// HubKey is a members-only hub's public key (from an invitation, or
	// from its operator): the session accepts no other hub, and proves
	// Identity instead of an access key.
	HubKey ed25519.PublicKey
	// Invitation, with HubKey, is the secret of an invitation to that hub
	// (Invitation.Secret), which makes the session's identity a member
	// on its first connection.
	Invitation []byte
	Mux        mux.Config

	// Dir, if set, is the folder where the files of accepted offers go,
	// checked and verified as the hub checks uploads; it is created once
	// the hub has welcomed the session. Without it, every offer is
	// declined.
	Dir string
	// KeepParts is how long the part of a file cut on its way into Dir is
	// kept for its sender to resume (Config.KeepParts).
	KeepParts time.Duration
	// Decide answers each offer as it comes, from the sender's link's
	// reading goroutine: Accept, Decline, or Ask (it waits for
	// Session.Accept or Session.Decline). nil asks.
	Decide func(Offer) Decision
	// OfferTimeout is how long an offer waits for an answer before it is
	// withdrawn (Config.OfferTimeout); 0 means DefaultOfferTimeout.
	OfferTimeout time.Duration

	// NoReconnect makes a lost connection end the session. Otherwise the
	// session dials again, waiting as Backoff says, under the name it had,
	// and sends in progress resume.
	NoReconnect bool
	Backoff     Backoff
	// DialTimeout bounds each attempt to connect; default 15 seconds.
	DialTimeout time.Duration

	// ResumeSecret is the secret from which the session derives the resume
	// tokens of what it sends (a key of its own for each hub: an HMAC of
	// the hub's access key, or of its address without one). Keep it, and
	// keep it secret: a send of the same files with the same secret, in a
	// later run, resumes where the receiver holds them. nil means a new
	// random secret, so that sends resume within this session only.
	ResumeSecret []byte
}

// Session is a client's place on a hub for as long as the program wants
// it: it dials, and dials again when the connection is lost (keeping its
// name, resuming what it sends), numbers the offers made to it, and tells
// the caller what happens as a stream of events (Events). Its methods are
// safe for concurrent use.
type Session struct {
	addr string
	cfg  SessionConfig
	key  []byte // resume key for this hub (transfer.SendOptions.ResumeKey)
	hub  string // this hub's name in KnownPeers (HubID)

	events    *queue
	evOnce    sync.Once
	evCh      <-chan Event
	wg        sync.WaitGroup // the events' pump
	cancel    context.CancelFunc
	runDone   chan struct{} // closed when run returns
	done      chan struct{} // closed when the session ends
	closeOnce sync.Once

	mu        sync.Mutex
	c         *Client       // the connection; nil before the first
	changed   chan struct{} // closed and replaced when c changes or the session ends
	ended     bool
	err       error // why the session ended
	nextN     int   // the number of the next offer
	waiting   []waitingN
	running   map[string]*arriving // accepted offers on their way in, by transfer id
	nextSend  int
	nextGet   int
	sending   sync.WaitGroup  // Sends and Gets running; none starts once ended
	heldBusy  map[string]bool // held transfers being opened, offered or received, by id
	heldWG    sync.WaitGroup  // their goroutines
	heldIdle  []chan struct{} // closed when heldBusy is empty (HeldSettled)
	heldSlots chan struct{}   // held transfers being opened or received (maxHeldAtOnce)
}

// waitingN is an offer waiting for an answer, and the connection it came
// on: answering it on another one is no use.
type waitingN struct {
	o    Offer
	c    *Client
	held *heldOffer // a held transfer's, opened (session_held.go)
}

// arriving is an accepted offer on its way in.
type arriving struct {
	o             Offer
	begun         map[int]bool
	left, ok, bad int
	bytes         int64
	start         time.Time
}

// Key is a hub's access key: 256 random bits that every client and the
// hub hold. Its text form (Key.Text, ParseKey) is what people pass around.
type Key = mux.Key

// NewKey returns a new random access key.
func NewKey() Key { return mux.NewKey() }

// ParseKey reads a key in its text form, telling a mistyped key apart
// from a wrong one.
func ParseKey(text string) (Key, error) { return mux.ParseKey(text) }

// DefaultKeepParts is how long a part of a cut file is kept for its
// sender when SessionConfig.KeepParts is 0.
const DefaultKeepParts = transfer.DefaultKeepParts

// ErrSessionClosed is returned by a Session's methods once Close was called.
var ErrSessionClosed = errors.New("session closed")

// DefaultPort is the port of a hub address given without one.
const DefaultPort = mux.DefaultPort

// HubAddr returns addr with DefaultPort if it has no port.
func HubAddr(addr string) string { return mux.HubAddr(addr) }

// Connect dials the hub at addr ("host" means port 7878) and returns the
// session, or the error of that first attempt: a hub that cannot be
// reached at the start is not waited for.
func Connect(ctx context.Context, addr string, cfg SessionConfig) (*Session, error) {
	addr = mux.HubAddr(addr)
	if !cfg.Key.IsZero() {
		cfg.Mux.Key = cfg.Key
	}
	cfg.Mux.InsecureNoTLS = cfg.Mux.InsecureNoTLS || cfg.InsecureNoTLS
	if cfg.Identity != nil {
		cfg.Mux.Identity = cfg.Identity.key
	}
	if cfg.HubKey != nil {
		cfg.Mux.HubKey, cfg.Mux.Invitation = cfg.HubKey, cfg.Invitation
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 15 * time.Second
	}
	if cfg.Decide == nil {
		cfg.Decide = func(Offer) Decision { return Ask }
	}
	s := &Session{addr: addr, cfg: cfg, events: newQueue(), changed: make(chan struct{}),
		runDone: make(chan struct{}), done: make(chan struct{}), nextN: 1, nextSend: 1, nextGet: 1, heldBusy: map[string]bool{}, heldSlots: make(chan struct{}, maxHeldAtOnce), running: map[string]*arriving{}}
	s.key = resumeKey(cfg.ResumeSecret, cfg.Mux, addr)
	s.hub = HubID(addr, cfg.Mux)
	c, err := s.dial(ctx, cfg.Name)
	if err != nil {
		return nil, err
	}
	s.c = c
	rctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.runDone)
		s.run(rctx)
	}()
	return s, nil
}

// resumeKey derives the key for one hub from the caller's secret: an HMAC
// of the hub's access key, or of its address on a hub without TLS, so
// that no hub learns tokens that would work on another. Without a secret
// it is random.
func resumeKey(secret []byte, cfg mux.Config, addr string) []byte {
	if secret == nil {
		k := make([]byte, 32)
		rand.Read(k)
		return k
	}
	hub := "addr\x00" + addr
	if !cfg.Key.IsZero() {
		hub = "key\x00" + cfg.Key.Text()
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("muxfer resume hub\x00" + hub))
	return m.Sum(nil)
}

// dial makes one connection under name, with the session's hooks.
func (s *Session) dial(ctx context.Context, name string) (*Client, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	var mine *Client // the offers of this connection wait on it
	// ready holds the connection's hooks until Connected is queued, so
	// that its events come after it.
	ready := make(chan struct{})
	cfg := Config{Name: name, DefaultName: s.cfg.DefaultName, Software: s.cfg.Software, Mux: s.cfg.Mux,
		OnMessage: func(m protocol.Message) { <-ready; s.heard(m) }}
	if s.cfg.Dir != "" {
		cfg.Inbox, cfg.KeepParts, cfg.OfferTimeout = s.cfg.Dir, s.cfg.KeepParts, s.cfg.OfferTimeout
		cfg.OnOffer = func(o protocol.Offer) Decision {
			<-ready // Dial has returned it
			return s.offered(mine, o)
		}
		cfg.OnWithdrawn = s.withdrawn
		cfg.OnProgress = s.progress
		cfg.OnReceived = s.received
		if s.cfg.Identity != nil {
			cfg.Identity = s.cfg.Identity
			cfg.OnWaiting = func(holds []protocol.Hold) {
				<-ready
				s.waitingHolds(mine, holds)
			}
		}
	}
	c, err := Dial(ctx, s.addr, cfg)
	if err != nil {
		return nil, err
	}
	mine = c
	ev := Connected{Addr: s.addr, Name: c.Name(), ID: c.ID()}
	s.mu.Lock()
	ev.Again = s.c != nil
	s.mu.Unlock()
	if c.Name() != name {
		ev.Wanted = name
	}
	s.events.push(ev)
	close(ready)
	return c, nil
}

// run waits for the connection to be lost and replaces it, until the
// session ends.
func (s *Session) run(ctx context.Context) {
	defer func() {
		s.sending.Wait() // their last events (SendDone) come before the end
		s.heldWG.Wait()  // and those of held transfers (OfferDone), which end with the connection
		s.events.end()
	}()
	for {
		s.mu.Lock()
		c := s.c
		s.mu.Unlock()
		select {
		case <-c.Done():
		case <-ctx.Done():
			s.finish(ErrSessionClosed)
			c.Close() // says goodbye; the sends on it end
			return
		}
		c.Close() // waits for its reader: Err is set, no hook runs after
		lost := c.Err()
		if lost == nil {
			lost = mux.ErrClosed
		}
		var refused *protocol.Error
		again := !s.cfg.NoReconnect && !errors.As(lost, &refused) && ctx.Err() == nil
		s.events.push(Disconnected{Err: lost, Reconnecting: again})
		s.cut(c)
		if !again {
			s.finish(fmt.Errorf("%w: %w", ErrConnectionLost, lost))
			return
		}
		name := c.Name()
		next, err := s.cfg.Backoff.Retry(ctx, func(ctx context.Context) (*Client, error) { return s.dial(ctx, name) },
			func(n int, err error, wait time.Duration) { s.events.push(Retrying{Attempt: n, Err: err, Wait: wait}) })
		if err != nil {
			if ctx.Err() != nil {
				err = ErrSessionClosed
			} else {
				err = fmt.Errorf("%w: %w", ErrConnectionLost, err)
				s.events.push(Disconnected{Err: err})
			}
			s.finish(err)
			return
		}
		s.mu.Lock()
		s.c = next
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}
}

// ErrConnectionLost is wrapped by the error of a session that ended
// because its connection was lost and not restored, and by a Send's that
// the loss ended.
var ErrConnectionLost = transfer.ErrConnectionLost

// ErrRecipientAway is wrapped by a Send's error when its recipient was
// not connected, or left and did not come back in time.
var ErrRecipientAway = transfer.ErrRecipientAway

// finish ends the session with err.
func (s *Session) finish(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.ended, s.err = true, err
		close(s.changed)
		close(s.done)
	}
}

// conn returns the connection once there is one that is up, waiting while
// the session reconnects.
func (s *Session) conn(ctx context.Context) (*Client, error) { return s.connAfter(ctx, nil) }

// connAfter is conn, for a caller that found old closed: it waits for the
// one that replaces it.
func (s *Session) connAfter(ctx context.Context, old *Client) (*Client, error) {
	for {
		s.mu.Lock()
		c, changed, ended, err := s.c, s.changed, s.ended, s.err
		s.mu.Unlock()
		if ended {
			return nil, err
		}
		if c != old && c.Err() == nil {
			return c, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Events returns the session's events, from its first Connected on, in
// the order they happened; the channel is closed after the last, once the
// session has ended. A caller that asks for them must take them: while
// maxQueued are waiting, the session waits too. Until the first call the
// session keeps only the newest maxQueued.
func (s *Session) Events() <-chan Event {
	s.evOnce.Do(func() { s.evCh = s.events.start(&s.wg) })
	return s.evCh
}

// Addr is the hub's address, with its port.
func (s *Session) Addr() string { return s.addr }

// Name is the session's name on the hub: the one it got when it last
// connected, or from Rename since.
func (s *Session) Name() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.Name()
}

// ID is the hub's id for the session's current connection.
func (s *Session) ID() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.ID()
}

// Done is closed when the session has ended; Err then says why.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err says why the session ended, or nil while it lasts.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Leave ends the session on purpose: it says goodbye and ends the
// connection, once the sends still running have ended (cancel them
// first). Events' channel then gives what is left of the events and
// closes. Close must still be called.
func (s *Session) Leave() {
	s.cancel()
	<-s.runDone
}

// Close leaves the hub: it says goodbye, ends the connection and every
// goroutine of the session, and closes the events' channel (events not
// yet taken are dropped).
func (s *Session) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.cancel()
		<-s.runDone // no connection replaces this one after it
		s.mu.Lock()
		c := s.c
		s.mu.Unlock()
		err = c.Close()
		s.heldWG.Wait() // each ends with its connection
		close(s.events.stop)
		s.wg.Wait()
	})
	return err
}

// retried runs op on the connection, and once more on the next one if the
// connection was lost under it.
func (s *Session) retried(ctx context.Context, op func(*Client) error) error {
	c, err := s.conn(ctx)
	if err != nil {
		return err
	}
	if err = op(c); errors.Is(err, mux.ErrClosed) {
		if c, err = s.connAfter(ctx, c); err == nil {
			err = op(c)
		}
	}
	return err
}

// Chat sends a chat line to everyone, as Client.Chat; while the session
// reconnects it waits for the connection.
func (s *Session) Chat(text string) error {
	return s.retried(context.Background(), func(c *Client) error { return c.Chat(text) })
}

// Message sends a chat line to the client named to only, end to end, as
// Client.Message. If the identity behind to is not the one pinned, the
// message is not sent: the error is a *KeyChangedError, also told as a
// KeyChanged event.
func (s *Session) Message(to, text string) error {
	id, err := s.expect(context.Background(), to)
	if err != nil {
		return err
	}
	err = s.retried(context.Background(), func(c *Client) error { return c.message(to, id, text) })
	var changed *KeyChangedError
	if errors.As(err, &changed) {
		s.events.push(KeyChanged{Err: changed, What: DirectMessageTo})
	}
	return err
}

// Rename asks the hub for a new name, as Client.Rename; the session keeps
// it across reconnects.
func (s *Session) Rename(ctx context.Context, name string) (got string, err error) {
	err = s.retried(ctx, func(c *Client) error {
		got, err = c.Rename(ctx, name)
		return err
	})
	return got, err
}

// Who lists the clients connected to the hub, this one too.
func (s *Session) Who(ctx context.Context) (list []Peer, err error) {
	err = s.retried(ctx, func(c *Client) error {
		list, err = c.Who(ctx)
		return err
	})
	return list, err
}

// heard turns what the hub says into events.
func (s *Session) heard(m protocol.Message) {
	switch m := m.(type) {
	case protocol.Chat:
		if m.To != "" { // a direct message: from a pinned identity only
			if changed := s.checkPeer(m.From, m.FromIdentity); changed != nil {
				s.events.push(KeyChanged{Err: changed, What: DirectMessageFrom})
				return
			}
			s.pinPeer(m.From, m.FromIdentity)
		}
		s.events.push(Message{From: m.From, FromID: m.FromID, FromIdentity: m.FromIdentity, To: m.To, Text: m.Text})
	case protocol.Presence:
		s.events.push(Presence{Kind: m.Event, Peer: m.Client, OldName: m.OldName})
	case protocol.Notice:
		s.events.push(Notice{Code: m.Code, Text: m.Text})
	}
	// Bye and Error end the connection: Disconnected says why.
}

// Paths builds the Files of local files and folders, as scp -r names
// them (transfer.Scan), and says what it left out.
func Paths(paths ...string) (*Files, []Skipped, error) { return transfer.Scan(paths...) }

// FromReader makes the Files of one file called name read from r until
// it ends, of a size nobody knows before then: it is sent as it is read,
// and cannot be resumed (transfer.FromReader). name must pass CheckName.
func FromReader(name string, r io.Reader) *Files {
	return transfer.FromReader(name, name, r, 0o644, time.Now().UnixNano())
}

// CheckName says why a receiver would refuse name as a file's path in an
// offer (absolute, "..", a device name...), or returns nil.
func CheckName(name string) error { return transfer.CheckPath(name) }
