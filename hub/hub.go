// Package hub is muxfer's server: it accepts client sessions, keeps the
// registry of who is connected, routes chat and presence between them,
// stores the files they upload under one directory, and relays files from
// one client to another without storing them (relay.go).
//
// Each client has one goroutine reading its control stream, one writing to
// it from a bounded queue (a client too slow to drain its queue is
// disconnected rather than allowed to hold up the others), and one per data
// stream in flight.
//
// Everything a client can make the hub hold is bounded (see Config): the
// connections in their handshake and the clients, in all and per source
// address, each client's chat rate, transfers, data streams and folders,
// and its queue of messages.
package hub

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// Limits per client.
const (
	MaxChatLen   = protocol.MaxChatLen
	MaxNameLen   = 32 // runes of a client name
	MaxTransfers = 64 // transfers open at once
	// MaxStreams bounds the data streams of one client that the hub
	// receives at once: the next waits until one ends (a sender keeps
	// no more open, see protocol.MaxDataStreams). The bounds beyond
	// which a stream is refused, from one address and from all
	// clients, are Config's MaxStreamsPerAddr and MaxStreamsTotal.
	MaxStreams         = protocol.MaxDataStreams
	outboxSize         = 1024 // control messages queued for a client
	defaultName        = "guest"
	defaultSoftwareTag = "muxfer"
)

// Limits bounds what one offer may ask of a hub (Config.Offers).
type Limits = transfer.Limits

// The defaults of Config.Offers.MaxFiles and Config.KeepParts.
const (
	DefaultMaxFiles  = transfer.MaxFiles
	DefaultKeepParts = transfer.DefaultKeepParts
)

// Config configures a Hub. A limit left at zero takes its default.
type Config struct {
	Dir    string       // uploads are stored here; created if missing
	Logger *slog.Logger // default: discard
	Mux    mux.Config
	// Key, if set, is the access key clients must hold: it takes the
	// place of Mux.Key, so that a program needs no other package to set
	// it (client.NewKey makes one).
	Key mux.Key
	// InsecureNoTLS serves without TLS and without a key: anyone who
	// reaches the port can read and write. For measuring on trusted links.
	InsecureNoTLS bool
	Software      string // sent in Welcome, e.g. "muxfer 0.1.0"

	// MaxClients bounds the clients connected at once. A Hello beyond it
	// is answered with an Error of code "limit". Default 1000.
	MaxClients int
	// MaxHandshakes bounds the connections in their handshake at once,
	// from accept to Welcome (or refusal). The hub closes further
	// connections as soon as it accepts them. Default 128.
	MaxHandshakes int
	// MaxHandshakesPerAddr is one source address's share of those: a
	// connection from an address that has this many in their handshake
	// is closed as soon as it is accepted, so that a flood from one
	// address leaves the other slots to everyone else. An address is an
	// IPv4 address, or an IPv6 /64. Default 8.
	MaxHandshakesPerAddr int
	// MaxClientsPerAddr bounds the clients connected at once from one
	// source address (as above). A Hello beyond it is answered with an
	// Error of code "limit". Default 32.
	MaxClientsPerAddr int
	// MaxStreamsPerAddr bounds the data streams open at once from the
	// clients of one source address, and MaxStreamsTotal those of all
	// clients. A stream opened beyond either is reset at once (the
	// client's transfer fails with mux.ErrStreamRefused). A stream can
	// hold up to its receive window of the hub's memory (at most 1 MiB)
	// while nobody reads it: these bound that memory. Defaults: 4 for
	// each of MaxClientsPerAddr (128 for its default of 32), and 1024.
	// (Each client's streams are received MaxStreams at a time.)
	MaxStreamsPerAddr int
	MaxStreamsTotal   int

	// Each client's chat (direct messages too), nick and who messages are
	// bounded by a token bucket that refills ChatMessagesPerSecond and
	// holds at most ChatBurst, and the bytes of its chat text by one of ChatBytesPerSecond and
	// ChatBytesBurst (at least MaxChatLen). A client that runs a bucket
	// dry gets an Error of code "limit" and is disconnected. Defaults: 20
	// messages/s, bursts of 100; 256 KiB/s, bursts of 1 MiB.
	ChatMessagesPerSecond int
	ChatBurst             int
	ChatBytesPerSecond    int
	ChatBytesBurst        int

	// MaxOfferFolders bounds the folders one offer may create (those it
	// lists and the parents of its entries), and MaxSessionFolders those
	// all the offers of one session may create together, counted offer by
	// offer whether or not the folders exist already. An offer over
	// either is rejected. Defaults 10,000 and 100,000.
	MaxOfferFolders   int
	MaxSessionFolders int

	// Offers bounds what one offer may ask for: entries, bytes, and the
	// free disk space it must leave. See transfer.Limits for defaults.
	Offers Limits

	// KeepParts is how long the hub keeps the part of a file whose
	// transfer was cut, for its sender to resume. Default
	// transfer.DefaultKeepParts (48 hours). Parts older than that are
	// removed when the hub starts and every hour.
	KeepParts time.Duration

	// Offers, relayed or not, are bounded per client by a token bucket
	// that refills OffersPerSecond and holds at most OfferBurst. An offer
	// beyond it is rejected with code "busy", which a client takes as
	// "offer again shortly". Defaults 20 offers/s, bursts of 100.
	OffersPerSecond int
	OfferBurst      int

	// MaxRelaysFromOne bounds the relayed offers from one source address
	// that wait for one recipient's answer, of the MaxTransfers that
	// recipient may have at once, so that one address cannot take them
	// all however many sessions it opens. An offer beyond is rejected
	// with code "busy". Default 8.
	MaxRelaysFromOne int

	// Each source address may have PresenceBurst clients announced to
	// the others as they join (and leave), refilled at PresencePerMinute;
	// a client beyond is not announced. Defaults 10 and 10.
	PresenceBurst     int
	PresencePerMinute int

	// MembersFile makes the hub members-only (members.go): it admits
	// only the identities the file lists, each under its name there, and
	// its TLS identity is HubIdentity (required with it) instead of one
	// derived from the access key, which it does not use.
	MembersFile string
	HubIdentity ed25519.PrivateKey

	// MaxOwnedNames bounds the names that identities own on the hub
	// together (see owners.go); a client with an identity asking for a
	// new name beyond it is refused with code "limit". Default 100,000.
	MaxOwnedNames int

	// MaxOpenEntries bounds the entries (files and folders) of one
	// client's open transfers together, stored and relayed: an offer
	// that would pass it is rejected with code "busy" unless it is the
	// client's only one. Default transfer.MaxFiles (100,000).
	MaxOpenEntries int
	// MaxOpenEntriesPerAddr and MaxOpenEntriesTotal bound the same over
	// all the clients of one source address, and over the whole hub; an
	// offer beyond either is rejected with code "busy". The hub holds
	// about 150 bytes per entry. Defaults 200,000 and 2,000,000.
	MaxOpenEntriesPerAddr int
	MaxOpenEntriesTotal   int

	// MaxClientQueue bounds the bytes of messages queued for one client
	// (a message larger than it is still queued alone), and
	// MaxQueuedBytes those queued for all clients together; broadcasts
	// may fill half of each. A broadcast that does not fit is dropped for
	// that client; any other message waits for room, and the client is
	// disconnected if its writer sends nothing for the I/O timeout
	// meanwhile (see outbox.go).
	// Defaults 4 MiB and 256 MiB.
	MaxClientQueue int64
	MaxQueuedBytes int64

	// OfferTimeout is how long an offer relayed to another client may
	// wait for its answer (a person reading it and typing /accept) before
	// the hub withdraws it: the sender gets a reject, and the recipient a
	// reject that withdraws the offer. Default DefaultOfferTimeout.
	OfferTimeout time.Duration

	// Read says who may list and get the files the hub stores: ReadOwn
	// (the default) each client the files its identity uploaded, ReadAll
	// every client everything, ReadNone nobody (see files.go).
	Read string
	// Shared lists folders inside Dir ("/"-separated paths relative to
	// it) that every client may list and get from, unless Read is
	// ReadNone.
	Shared []string
	// MaxRecordedUploads bounds the records of who uploaded which file
	// (UploadsFile); a file stored beyond it is nobody's upload. Default
	// DefaultMaxRecordedUploads (a record takes about 300 bytes).
	MaxRecordedUploads int

	// Hold is how long the hub keeps a held transfer (files sealed for
	// people who are not connected) for its recipients; HoldQuota bounds
	// the sealed bytes it holds for one sender (an identity), uploads in
	// progress too. Defaults DefaultHold (7 days) and DefaultHoldQuota
	// (10 GiB).
	Hold      time.Duration
	HoldQuota int64
	// Now, if set, is the hub's clock for held transfers (their creation
	// and expiry): tests move it. Default time.Now.
	Now func() time.Time
}

// Hub is a running server. Create it with New, run it with Serve, stop it
// with Close.
type Hub struct {
	cfg   Config
	log   *slog.Logger
	root  *os.Root
	recv  *transfer.Receiver
	start time.Time // the clock (monotonic) of the clients' idle times

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per connection, and the sweeper

	channels channelBudget // channels open, by the caller's address and in all (channel.go)

	handshakes chan struct{} // one per connection in its handshake
	crowded    throttle      // logs refused connections once a second
	admit      admission     // what each source address holds
	failures   throttle      // logs failed handshakes at most ten times a second

	mu         sync.Mutex
	clients    map[uint64]*peer
	names      map[string]uint64 // folded name -> id
	book       nameBook          // look-alike keys of the names in use and of recent ones (names.go)
	owners     *owners           // which identity owns which name (owners.go)
	catalog    *catalog          // who uploaded which file (catalog.go)
	holds      *holdStore        // held transfers (hold.go)
	getStreams *getBudget        // the data streams gets hold open (get.go)
	members    memberList        // a members-only hub's members (members.go)
	inviteMu   sync.Mutex        // one invitation redeemed at a time (invite.go)
	nameLimit  int               // highest suffix tried on a clash: maxNameSuffix but in tests
	nextID     uint64
	listeners  map[net.Listener]struct{}
	closed     bool
	draining   bool          // Shutdown: no new connections or offers
	ended      chan struct{} // closed and replaced whenever a transfer ends

	relaySecret [32]byte // derives the resume tokens a recipient sees from the sender's
	secretOnce  sync.Once
	getSecret   []byte // derives the resume tokens of the files clients get (get.go), kept across restarts

	queued   atomic.Int64   // bytes queued for all clients' writers (see outbox.go)
	starved  atomic.Bool    // a push waits for room under MaxQueuedBytes
	roomMu   sync.Mutex     // guards room
	room     chan struct{}  // closed and replaced when a writer sends while starved
	presence *presenceLimit // announcements of joins per source address
	entries  entryBudget    // entries of open transfers, per source and in all
	stall    time.Duration  // the I/O timeout: how long a client may leave its queue full
}

// New opens (creating if needed) the upload directory and returns a hub.
func New(cfg Config) (*Hub, error) {
	if !cfg.Key.IsZero() {
		cfg.Mux.Key = cfg.Key
	}
	cfg.Mux.InsecureNoTLS = cfg.Mux.InsecureNoTLS || cfg.InsecureNoTLS
	if cfg.Dir == "" {
		return nil, errors.New("hub: no directory for uploads")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(cfg.Dir)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Software == "" {
		cfg.Software = defaultSoftwareTag
	}
	cfg = cfg.withDefaults()
	if err := cfg.checkRead(); err != nil {
		root.Close()
		return nil, err
	}
	var members memberList
	var membersInfo os.FileInfo
	if cfg.MembersFile != "" {
		switch {
		case cfg.HubIdentity == nil:
			root.Close()
			return nil, errors.New("hub: a members-only hub needs an identity of its own")
		case cfg.Mux.InsecureNoTLS:
			root.Close()
			return nil, errors.New("hub: a members-only hub needs TLS: its members prove who they are over it")
		}
		if members, err = readMembers(cfg.MembersFile); err == nil {
			membersInfo, err = os.Stat(cfg.MembersFile)
		}
		if err != nil {
			root.Close()
			return nil, fmt.Errorf("hub: members: %w", err)
		}
		cfg.Mux.HubIdentity = cfg.HubIdentity
	}
	owners, skipped, err := openOwners(root, cfg.MaxOwnedNames)
	if err != nil {
		owners.close()
		root.Close()
		return nil, fmt.Errorf("hub: the names' owners (%s): %w", OwnersFile, err)
	}
	if skipped > 0 {
		log.Warn("skipped lines of the names' owners that could not be read", "file", OwnersFile, "lines", skipped)
	}
	cat, skipped, err := openCatalog(root, cfg.MaxRecordedUploads)
	if err != nil {
		log.Warn("cannot read the record of uploads: clients may not find their own", "file", UploadsFile, "err", err)
	}
	if skipped > 0 {
		log.Warn("skipped lines of the record of uploads that could not be read", "file", UploadsFile, "lines", skipped)
	}
	ctx, cancel := context.WithCancel(context.Background())
	recv := transfer.NewReceiver(root)
	stopEarly := func() {
		cancel()
		owners.close()
		cat.close()
		root.Close()
	}
	recv.Limits = cfg.Offers
	recv.KeepParts = cfg.KeepParts
	if free, reserve, err := recv.Room(); err == nil && free < reserve {
		log.Warn("the folder has less free space than the reserve: every upload will be refused until there is more (see --reserve)",
			"dir", cfg.Dir, "free_bytes", free, "reserve_bytes", reserve)
	}
	if err := recv.OpenRecords(); err != nil {
		log.Warn("cannot keep the records of stored files across restarts", "err", err)
	}
	h := &Hub{cfg: cfg, log: log, root: root, recv: recv, owners: owners, catalog: cat, getStreams: newGetBudget(cfg.MaxStreamsTotal/2, max(cfg.MaxStreamsPerAddr/2, 1)), members: members, start: time.Now(),
		ctx: ctx, cancel: cancel,
		handshakes: make(chan struct{}, cfg.MaxHandshakes), crowded: throttle{period: time.Second},
		admit: admission{crowded: throttle{period: time.Second}, streamsRefused: throttle{period: time.Second}}, failures: throttle{period: 100 * time.Millisecond},
		clients: map[uint64]*peer{}, names: map[string]uint64{}, nameLimit: maxNameSuffix,
		listeners: map[net.Listener]struct{}{}, ended: make(chan struct{}), stall: cfg.Mux.IOTimeout,
		presence: newPresenceLimit(cfg.PresencePerMinute, cfg.PresenceBurst), room: make(chan struct{})}
	if h.stall <= 0 {
		h.stall = 30 * time.Second // mux's default
	}
	if h.holds, err = openHolds(h, root); err != nil {
		if h.holds != nil {
			h.holds.close()
		}
		stopEarly()
		return nil, fmt.Errorf("hub: held transfers (%s): %w", HeldFolder, err)
	}
	rand.Read(h.relaySecret[:])
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.sweep()
	}()
	if h.membersOnly() {
		h.cfg.Mux.Member = h.admitMember
		h.wg.Go(func() { h.watchMembers(membersInfo) })
	}
	return h, nil
}

// sweep removes old parts now and every hour until the hub closes.
func (h *Hub) sweep() {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := h.recv.Sweep()
		if err != nil {
			h.log.Warn("sweeping old partial files", "err", err)
		} else if n > 0 {
			h.log.Info("removed old partial files", "count", n)
		}
		h.holds.expire()
		select {
		case <-t.C:
		case <-h.ctx.Done():
			return
		}
	}
}

// Serve accepts connections on ln until Close is called or ln fails. It
// returns nil after Close.
func (h *Hub) Serve(ln net.Listener) error {
	h.mu.Lock()
	if h.closed || h.draining {
		h.mu.Unlock()
		ln.Close()
		return nil
	}
	h.listeners[ln] = struct{}{}
	h.mu.Unlock()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if h.isClosed() {
				return nil
			}
			// Out of file descriptors, or a connection aborted before it
			// was accepted: wait a little and go on, as net/http does.
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ENOBUFS) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				h.log.Warn("accept failed; retrying", "err", err, "in", backoff)
				select {
				case <-time.After(backoff):
				case <-h.ctx.Done():
				}
				continue
			}
			return err
		}
		backoff = 0
		src := sourceOf(conn.RemoteAddr())
		if !h.startHandshake(conn, src) {
			continue
		}
		if !h.track() {
			h.endHandshake(src)
			conn.Close()
			return nil
		}
		go func() {
			defer h.wg.Done()
			h.serveConn(conn, src)
		}()
	}
}

// track counts a new connection goroutine, unless the hub is closing: the
// check and the Add happen under the lock that Close takes first, so Close
// never waits while a goroutine is still being added.
func (h *Hub) track() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.draining {
		return false
	}
	h.wg.Add(1)
	return true
}

// Close stops accepting, tells every client the hub is going, ends every
// session and waits for their goroutines. Files in flight stay as parts,
// for their senders to resume (see Config.KeepParts).
func (h *Hub) Close() error {
	h.mu.Lock()
	h.closed = true // before the listeners close, so that Serve sees it
	for ln := range h.listeners {
		ln.Close()
	}
	for _, p := range h.clients {
		p.lastWord(p.out, protocol.Bye{Reason: "hub is shutting down"})
	}
	h.mu.Unlock()
	h.cancel() // each peer's writer sends what is queued, then hangs up
	h.wg.Wait()
	h.recv.CloseRecords()
	h.owners.close()
	h.catalog.close()
	h.holds.close()
	return h.root.Close()
}

// isClosed reports whether the hub has stopped accepting connections.
func (h *Hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed || h.draining
}

// Shutdown stops the hub gracefully: it stops accepting connections and
// offers, tells every client so, waits until the transfers in progress
// have ended or ctx is done, and then closes the hub as Close does. It
// returns ctx's error if the wait was cut short.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.draining = true
	for ln := range h.listeners {
		ln.Close()
	}
	for _, p := range h.clients {
		p.sayOrDrop(protocol.Notice{Text: "hub is shutting down: transfers in progress may finish, new ones are refused"})
	}
	h.mu.Unlock()
	var err error
	for {
		n, ended := h.transfersInProgress()
		if n == 0 {
			break
		}
		h.log.Info("waiting for transfers to finish", "transfers", n)
		select {
		case <-ended:
			continue
		case <-ctx.Done():
			err = ctx.Err()
		}
		break
	}
	if cerr := h.Close(); err == nil {
		err = cerr
	}
	return err
}

// transfersInProgress counts the transfers still open over all clients,
// and returns a channel that is closed when one of them ends.
func (h *Hub) transfersInProgress() (int, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, p := range h.clients {
		p.mu.Lock()
		n += len(p.transfers) + len(p.relaysOut) + len(p.gets)
		p.mu.Unlock()
	}
	return n, h.ended
}

// transferEnded wakes Shutdown, if it waits.
func (h *Hub) transferEnded() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.ended)
	h.ended = make(chan struct{})
}

// isDraining reports whether Shutdown has begun.
func (h *Hub) isDraining() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.draining
}

// Clients lists the connected clients, ordered by id, each with its idle
// time and the number of its transfers still being received.
func (h *Hub) Clients() []protocol.ClientInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]protocol.ClientInfo, 0, len(h.clients))
	for _, p := range h.clients {
		out = append(out, p.describe())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// serveConn runs one connection from src: its handshake, holding the
// handshake slot that Serve took for it, and then the client's session.
func (h *Hub) serveConn(conn net.Conn, src source) {
	p := h.handshake(conn, src)
	h.endHandshake(src)
	if p == nil {
		return
	}
	announce := h.presence.allow(src, time.Now())
	h.log.Info("client joined", clipArgs([]any{"id", p.info.ID, "name", p.info.Name, "addr", p.info.Addr, "announced", announce})...)
	if announce {
		h.broadcast(p, protocol.Presence{Event: protocol.Join, Client: p.info})
	}
	if p.info.Identity != "" {
		if waiting := h.holds.waitingFor(p.info.Identity); len(waiting) > 0 {
			p.say(protocol.Waiting{Holds: waiting})
		}
	}
	err := p.run()
	h.dismissClient(p, src)
	h.log.Info("client left", clipArgs([]any{"id", p.info.ID, "name", p.info.Name, "reason", reason(err)})...)
	if announce {
		h.broadcast(p, protocol.Presence{Event: protocol.Leave, Client: p.info})
	}
}

// handshake secures conn, reads the client's Hello, registers the client
// and welcomes it. It returns nil, the connection closed, if any of that
// fails or the hub refuses the client.
func (h *Hub) handshake(conn net.Conn, src source) *peer {
	addr := conn.RemoteAddr().String()
	cfg := h.cfg.Mux
	cfg.Streams = streamBudget{h, src}
	sess, hello, err := mux.Accept(h.ctx, conn, cfg)
	if err != nil {
		// Anyone can fail a handshake, as fast as they can connect: the
		// log gets at most ten lines a second of it, with a count of the
		// lines held back.
		if ok, held := h.failures.allow(time.Now()); ok {
			msg, level := "handshake failed", slog.LevelInfo
			if errors.Is(err, mux.ErrAuth) {
				msg, level = "authentication failed", slog.LevelWarn
			}
			h.log.Log(context.Background(), level, msg, "addr", addr, "reason", err, "not_logged_since", held)
		}
		return nil
	}
	p, refusal := h.admitClient(sess, hello, addr, src)
	if refusal != nil {
		// A key holder refused for its address's share can ask again as
		// fast as it can connect: these lines share the failed
		// handshakes' allowance.
		if ok, held := h.failures.allow(time.Now()); ok {
			h.log.Info("client refused", clipArgs([]any{"addr", addr, "name", hello.Name, "reason", refusal.Text, "not_logged_since", held})...)
		}
		sess.Send(*refusal)
		sess.Hangup()
		return nil
	}
	err = sess.Send(protocol.Welcome{Version: protocol.Version, ID: p.info.ID, Name: p.info.Name, Software: h.cfg.Software,
		ChatPerSecond: h.cfg.ChatMessagesPerSecond, ChatBurst: h.cfg.ChatBurst})
	if err == nil {
		err = sess.Ready()
	}
	if err != nil {
		// Never announced: leave quietly.
		h.dismissClient(p, src)
		p.cancel()
		sess.Close()
		h.log.Info("handshake failed", "addr", addr, "err", err)
		return nil
	}
	return p
}

func reason(err error) string {
	if err == nil || err == mux.ErrClosed {
		return "disconnected"
	}
	return err.Error()
}

// register adds a client under a unique name: the requested one cleaned of
// anything but letters, digits and "-_.", with "-2", "-3"… up to "-1000"
// on a clash with a connected client or with a name another identity owns
// (owners.go). It returns the Error to refuse the client with instead if
// the hub is closing or full, every numbered name is taken or the name
// looks like another in use or used recently (code limit), the name has a
// character that does not show (code bad_message; see names.go), or the
// requested name belongs to another identity and is not a default (code
// name_owned).
func (h *Hub) register(sess *mux.Session, hello protocol.Hello, addr string) (*peer, *protocol.Error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed || h.draining:
		return nil, &protocol.Error{Code: protocol.CodeShutdown, Text: "hub is shutting down"}
	case len(h.clients) >= h.cfg.MaxClients:
		return nil, &protocol.Error{Code: protocol.CodeLimit, Text: fmt.Sprintf("hub is full: %d clients", h.cfg.MaxClients)}
	}
	pub := sess.Identity()
	if h.membersOnly() {
		return h.registerMemberLocked(sess, pub, addr)
	}
	base, err := cleanName(hello.Name)
	if err != nil {
		return nil, &protocol.Error{Code: protocol.CodeBadMessage, Text: err.Error()}
	}
	if refusal := h.owners.check(base, pub); refusal != nil && !(hello.DefaultName && isOwned(refusal)) {
		return nil, refusal
	}
	name := base
	for i := 2; h.names[strings.ToLower(name)] != 0 || isOwned(h.owners.check(name, pub)); i++ {
		if i > h.nameLimit {
			return nil, &protocol.Error{Code: protocol.CodeLimit,
				Text: fmt.Sprintf("name %q is taken, and so are %q to %q", base, base+"-2", fmt.Sprintf("%s-%d", base, h.nameLimit))}
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
	if refusal := h.owners.check(name, pub); refusal != nil {
		return nil, refusal
	}
	if err := h.book.check(name, "", time.Now()); err != nil {
		return nil, &protocol.Error{Code: protocol.CodeLimit, Text: err.Error()}
	}
	if err := h.owners.take(name, pub); err != nil {
		h.log.Error("cannot record a name's owner", "name", name, "err", err)
		return nil, &protocol.Error{Code: protocol.CodeLimit, Text: "the hub cannot record who owns the name: try again later"}
	}
	h.nextID++
	info := protocol.ClientInfo{ID: h.nextID, Name: name, Addr: addr}
	if pub != nil {
		info.Identity = hex.EncodeToString(pub)
	}
	p := newPeer(h, sess, info)
	h.clients[p.info.ID] = p
	h.names[strings.ToLower(name)] = p.info.ID
	h.book.take(name)
	return p, nil
}

// registerMemberLocked adds a member of a members-only hub under its name
// in the members file, with "-2", "-3"… for its second session and on,
// skipping a numbered name the file gives another member; h.mu is held.
func (h *Hub) registerMemberLocked(sess *mux.Session, pub ed25519.PublicKey, addr string) (*peer, *protocol.Error) {
	member, ok := h.members[string(pub)]
	if !ok { // removed between its proof and now
		return nil, &protocol.Error{Code: protocol.CodeNotMember, Text: "not a member of this hub"}
	}
	name := member
	for i := 2; h.names[strings.ToLower(name)] != 0 || h.memberNameOfOtherLocked(name, pub); i++ {
		if i > h.nameLimit {
			return nil, &protocol.Error{Code: protocol.CodeLimit, Text: fmt.Sprintf("%s has %d sessions already", member, h.nameLimit)}
		}
		name = fmt.Sprintf("%s-%d", member, i)
	}
	h.nextID++
	p := newPeer(h, sess, protocol.ClientInfo{ID: h.nextID, Name: name, Identity: hex.EncodeToString(pub), Addr: addr})
	p.member = member
	h.clients[p.info.ID] = p
	h.names[strings.ToLower(name)] = p.info.ID
	return p, nil
}

// memberNameOfOtherLocked reports whether the members file gives name to
// another identity than pub; h.mu is held.
func (h *Hub) memberNameOfOtherLocked(name string, pub ed25519.PublicKey) bool {
	for k, n := range h.members {
		if sameName(n, name) && k != string(pub) {
			return true
		}
	}
	return false
}

// isOwned reports whether refusal says a name belongs to someone else.
func isOwned(refusal *protocol.Error) bool {
	return refusal != nil && refusal.Code == protocol.CodeNameOwned
}

func (h *Hub) unregister(p *peer) {
	h.mu.Lock()
	delete(h.clients, p.info.ID)
	delete(h.names, strings.ToLower(p.info.Name))
	h.book.release(p.info.Name, time.Now())
	h.mu.Unlock()
}

// broadcast queues m for every client but from. A client whose queue is
// full misses m (and the hub logs it): one slow client, or one fast
// talker, must not get anybody else disconnected.
func (h *Hub) broadcast(from *peer, m protocol.Message) {
	b := h.encode(m) // once for everyone
	if b == nil {
		return
	}
	msg := outMsg{typ: m.Type(), b: b}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.clients {
		if p != from {
			p.pushEncoded(p.out, msg, dropIfFull)
		}
	}
}

// cleanName returns the name a hello asking for s gets, before clashes:
// or why s is refused instead, if it has characters that do not show
// (checkVisible).
func cleanName(s string) (string, error) {
	if err := checkVisible(s); err != nil {
		return "", err
	}
	var b strings.Builder
	n := 0
	for _, r := range strings.TrimSpace(s) {
		if n == MaxNameLen {
			break
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r) || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteRune('_')
		}
		n++
	}
	if b.Len() == 0 {
		return defaultName, nil
	}
	return b.String(), nil
}
