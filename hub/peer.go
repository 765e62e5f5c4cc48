package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/muxfer/muxfer/internal/datastream"
	"github.com/muxfer/muxfer/internal/route"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
	"golang.org/x/time/rate"
)

// peer is one connected client as the hub sees it.
type peer struct {
	h    *Hub
	sess *mux.Session
	info protocol.ClientInfo
	src  source // where it connected from, as the limits per address count it
	// member is, on a members-only hub, the name the members file gives
	// the client (its own may have "-2" after it); set before it runs.
	member string

	ctx     context.Context // ends when the peer is being torn down
	cancel  context.CancelFunc
	out     chan outMsg   // chat, presence, notices and bye, in order, for the writer
	answers chan outMsg   // answers to the client's requests; the writer sends them first
	room    chan struct{} // the writer sent a message: a push waiting for room may try again
	queued  atomic.Int64  // bytes in out and answers (see outbox.go)
	wrote   atomic.Int64  // when the writer last sent a message, as nanoseconds since the hub started
	qmu     sync.Mutex    // guards qclosed, and orders pushes with closeQueues
	qclosed bool          // the writer has ended: nothing more is queued
	logs    *logLimit     // this client's allowance of log lines
	slots   chan struct{} // data streams being received
	// channelsOut and channelsIn count the channels (channel.go) this
	// client opened, and those opened to it.
	channelsOut, channelsIn channelCount
	recvWG                  sync.WaitGroup // one per data stream

	// Only the reading goroutine uses these.
	chat    chatLimit
	offers  *rate.Limiter
	folders int // folders this session's offers may have created

	refused atomic.Bool  // the hub is ending the session for a broken rule
	active  atomic.Int64 // when the client was last active, as nanoseconds since the hub started (see touch)

	// mu guards transfers, the relays and failure, and info.Name with the
	// hub's mu: rename holds both to change it, so either is enough to
	// read it (and the reading goroutine, which renames, needs neither).
	mu         sync.Mutex
	transfers  map[string]*transfer.Incoming
	relaysOut  map[string]*relay            // relays this client sends, by its own id; nil once it left
	relaysIn   map[string]*relay            // relays to this client, by the hub's id; nil once it left
	relaysGone map[string]bool              // relays of this client that ended early (see rememberGone)
	goneOrder  []string                     // their ids, oldest first
	failure    error                        // why the hub ended the session, if it did
	gets       map[string]bool              // the client's gets being sent (get.go), by its id
	holding    map[string]protocol.HoldSpec // the client's held uploads (hold.go), by transfer id

	routes route.Table    // the Accept, Reject and Result messages of the gets' transfers
	getWG  sync.WaitGroup // one per get being sent
}

func newPeer(h *Hub, sess *mux.Session, info protocol.ClientInfo) *peer {
	ctx, cancel := context.WithCancel(h.ctx)
	p := &peer{h: h, sess: sess, info: info, ctx: ctx, cancel: cancel,
		out: make(chan outMsg, outboxSize), answers: make(chan outMsg, outboxSize), room: make(chan struct{}, 1),
		logs: newLogLimit(), slots: make(chan struct{}, MaxStreams),
		chat: newChatLimit(h.cfg), offers: rate.NewLimiter(rate.Limit(h.cfg.OffersPerSecond), h.cfg.OfferBurst), transfers: map[string]*transfer.Incoming{},
		relaysOut: map[string]*relay{}, relaysIn: map[string]*relay{}, gets: map[string]bool{}, holding: map[string]protocol.HoldSpec{}}
	p.touch()
	p.wrote.Store(int64(time.Since(h.start)))
	return p
}

// say queues a message that must reach the client (a relayed offer or
// result), after the chat and presence already queued. While the queue
// is full the caller waits; a client that leaves it full for the hub's
// I/O timeout is too slow to keep and is disconnected (see outbox.go).
// The caller must not hold the hub's or a peer's mu.
func (p *peer) say(m protocol.Message) { p.push(p.out, m, waitForRoom) }

// answer queues an answer to the client's own request (accept, reject,
// result, clients): the writer sends answers before the chat and
// presence queued for the client, so that an upload does not wait behind
// other people's talk. It waits for room as say does.
func (p *peer) answer(m protocol.Message) { p.push(p.answers, m, waitForRoom) }

// tell is say for a relayed offer, which gives up after the I/O timeout
// rather than hold its sender for longer, and reports whether it was
// queued.
func (p *peer) tell(m protocol.Message) bool {
	return p.pushMsg(p.out, m, waitForRoom, time.Now().Add(p.h.stall))
}

// answerBy is answer with a deadline for the wait (see pushBy), and
// reports whether the answer was queued.
func (p *peer) answerBy(m protocol.Message, deadline time.Time) bool {
	return p.pushMsg(p.answers, m, waitForRoom, deadline)
}

// lastWord queues a message that ends the session (an Error, a Bye) past
// the byte bounds, without waiting: it may be called with a mu held.
func (p *peer) lastWord(q chan outMsg, m protocol.Message) { p.push(q, m, always) }

// sayOrDrop queues a broadcast for the client, or drops it if the client's
// queue is full. It never waits.
func (p *peer) sayOrDrop(m protocol.Message) { p.push(p.out, m, dropIfFull) }

// run serves the client until it leaves, breaks the protocol, or the hub
// closes, and returns only when every goroutine it started has ended.
func (p *peer) run() error {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.writeLoop() }()
	go func() { defer wg.Done(); p.acceptLoop() }()
	err := p.readLoop()
	p.cancel()
	wg.Wait()
	p.getWG.Wait()
	p.closeQueues()
	p.recvWG.Wait()
	p.endRelays()
	p.mu.Lock()
	// Files that will never come now: release the disk space promised to
	// them.
	for id, in := range p.transfers {
		in.Abandon()
		p.releaseEntries(in.Entries())
		if spec, held := p.holding[id]; held {
			p.h.holds.forgetPending(spec.ID)
		}
	}
	open := len(p.transfers)
	p.transfers = nil
	if p.failure != nil {
		err = p.failure
	}
	p.mu.Unlock()
	if open > 0 {
		p.h.transferEnded()
	}
	return err
}

// writeLoop sends queued messages. When the peer is torn down it sends
// what is still queued (an Error or a Bye, typically) and closes the
// session, which ends readLoop and every data stream.
func (p *peer) writeLoop() {
	defer p.sess.Hangup()
	for {
		select {
		case m := <-p.answers: // answers first, whatever else waits
			if !p.send(m) {
				return
			}
			continue
		default:
		}
		select {
		case m := <-p.answers:
			if !p.send(m) {
				return
			}
		case m := <-p.out:
			if !p.send(m) {
				return
			}
		case <-p.ctx.Done():
			p.flush()
			return
		}
	}
}

// flush sends what is still queued, answers first, when the peer is torn
// down.
func (p *peer) flush() {
	for _, q := range []chan outMsg{p.answers, p.out} {
		for {
			select {
			case m := <-q:
				if !p.send(m) {
					return
				}
				continue
			default:
			}
			break
		}
	}
}

// send writes m to the client and reports whether the session still
// works. To a client the hub has refused it sends no more chat or
// presence: the Error should not wait behind up to a queue of them, nor
// the hub spend its time on a client it is dropping.
func (p *peer) send(m outMsg) bool {
	defer p.sent(m)
	if p.refused.Load() {
		switch m.typ {
		case protocol.Chat{}.Type(), protocol.Presence{}.Type():
			return true
		}
	}
	err := p.sess.SendEncoded(m.b)
	return err == nil || errors.Is(err, protocol.ErrFrameTooLarge)
}

func (p *peer) readLoop() error {
	for {
		m, err := p.sess.Recv()
		if err != nil {
			if errors.Is(err, mux.ErrClosed) {
				return err // perhaps with why: a keepalive or a write timed out
			}
			if errors.Is(err, io.EOF) {
				return mux.ErrClosed
			}
			if errors.Is(err, protocol.ErrTooManyFiles) {
				return p.refuse(protocol.CodeLimit, err.Error())
			}
			return p.refuse(protocol.CodeBadMessage, err.Error())
		}
		switch m := m.(type) {
		case protocol.Chat:
			if len(m.Text) > MaxChatLen {
				return p.refuse(protocol.CodeLimit, fmt.Sprintf("chat message of %d bytes, limit %d", len(m.Text), MaxChatLen))
			}
			if err := p.chat.allow("chat", len(m.Text), time.Now()); err != nil {
				return p.refuse(protocol.CodeLimit, err.Error())
			}
			p.touch()
			if m.To != "" {
				p.direct(m)
				continue
			}
			p.h.broadcast(p, protocol.Chat{From: p.info.Name, FromID: p.info.ID, FromIdentity: p.info.Identity, Text: m.Text})
		case protocol.Nick:
			// A rename is announced to everyone: as dear as a chat line.
			if err := p.chat.allow("nick", 0, time.Now()); err != nil {
				return p.refuse(protocol.CodeLimit, err.Error())
			}
			p.rename(m.Name)
		case protocol.Who:
			// An answer lists every client: cheap to ask, dear to answer.
			if err := p.chat.allow("who", 0, time.Now()); err != nil {
				return p.refuse(protocol.CodeLimit, err.Error())
			}
			p.answer(protocol.Clients{Clients: p.h.Clients()})
		case protocol.Offer:
			p.touch()
			p.offer(m)
		case protocol.Accept:
			if !p.routes.Route(m.Transfer, m) {
				p.recipientAccepts(m)
			}
		case protocol.Reject:
			if !p.routes.Route(m.Transfer, m) {
				p.recipientRejects(m)
			}
		case protocol.List:
			p.list(m)
		case protocol.Lookup:
			if err := p.chat.allow("lookup", 0, time.Now()); err != nil {
				return p.refuse(protocol.CodeLimit, err.Error())
			}
			p.lookup(m)
		case protocol.Holds:
			if err := p.chat.allow("holds", 0, time.Now()); err != nil {
				return p.refuse(protocol.CodeLimit, err.Error())
			}
			p.holdsAsked(m)
		case protocol.Release:
			p.h.holds.release(m.Hold, p.info.Identity, m.Taken)
		case protocol.Get:
			p.touch()
			p.get(m)
		case protocol.Result:
			switch {
			case p.routes.Route(m.Transfer, m):
			case p.relayIn(m.Transfer) != nil:
				p.recipientResult(m)
			case p.relayOut(m.Transfer) != nil:
				p.senderCancels(m)
			default:
				p.senderGaveUp(m)
			}
		case protocol.Bye:
			return nil
		default:
			return p.refuse(protocol.CodeBadMessage, "unexpected message "+m.Type())
		}
	}
}

// refuse tells the client what it did wrong and ends the session: the
// writer sends the Error, then hangs up. It may be called from any of the
// peer's goroutines; the first reason wins.
func (p *peer) refuse(code, text string) error {
	text = protocol.Clip(text, protocol.MaxReasonLen) // it may quote what the client sent
	err := errors.New(text)
	p.mu.Lock()
	if p.failure == nil {
		p.failure = err
	}
	p.mu.Unlock()
	p.refused.Store(true)
	p.lastWord(p.answers, protocol.Error{Code: code, Text: protocol.Clip(text, protocol.MaxReasonLen)})
	p.cancel()
	return err
}

func (p *peer) offer(o protocol.Offer) {
	p.mu.Lock()
	n := len(p.transfers) + len(p.relaysOut)
	_, dup := p.transfers[o.Transfer]
	_, dupRelay := p.relaysOut[o.Transfer]
	_, dupIn := p.relaysIn[o.Transfer] // the client would mix their messages up
	open := p.openEntriesLocked()
	p.mu.Unlock()
	reject := func(reason string) {
		p.logf(slog.LevelInfo, "offer refused", "id", p.info.ID, "name", p.info.Name, "reason", reason)
		p.answer(protocol.Reject{Transfer: protocol.Clip(o.Transfer, 64), Reason: reason})
	}
	busy := func(reason string) {
		p.logf(slog.LevelInfo, "offer refused for now", "id", p.info.ID, "name", p.info.Name, "reason", reason)
		p.answer(protocol.Reject{Transfer: protocol.Clip(o.Transfer, 64), Reason: reason, Code: protocol.CodeBusy})
	}
	switch {
	case p.h.isDraining():
		p.answer(protocol.Reject{Transfer: protocol.Clip(o.Transfer, 64), Reason: "hub is shutting down", Code: protocol.CodeShutdown})
		return
	case !p.offers.Allow():
		busy(fmt.Sprintf("more than %d offers a second: offer again shortly", p.h.cfg.OffersPerSecond))
		return
	case dup || dupRelay || dupIn:
		reject("transfer id already in use")
		return
	case n >= MaxTransfers:
		reject(fmt.Sprintf("more than %d transfers at once", MaxTransfers))
		return
	case open > 0 && open+len(o.Files) > p.h.cfg.MaxOpenEntries:
		// What the hub holds for a client's open transfers grows with
		// their entries: bounded per session, not only per offer.
		busy(fmt.Sprintf("more than %d files and folders in open transfers: offer again when some are done", p.h.cfg.MaxOpenEntries))
		return
	case o.To != "":
		p.relayOffer(o)
		return
	case o.Hold != nil:
		p.holdOffer(o)
		return
	}
	if err := p.takeEntries(len(o.Files)); err != nil {
		busy(err.Error())
		return
	}
	kept := false
	defer func() {
		if !kept {
			p.releaseEntries(len(o.Files))
		}
	}()
	// The paths first: counting the folders walks them, which costs time
	// in proportion to their depth, and CheckOffer bounds that (and
	// costs time in proportion to the offer's size).
	if err := transfer.CheckOffer(o); err != nil {
		reject(err.Error())
		return
	}
	// An offer of folders only is done once accepted, so MaxTransfers never
	// holds it back: folders are bounded by number instead.
	maxOffer, maxSession := p.h.cfg.MaxOfferFolders, p.h.cfg.MaxSessionFolders
	switch dirs := offerFolders(o.Files, maxOffer); {
	case dirs > maxOffer:
		reject(fmt.Sprintf("offer has more than %d folders", maxOffer))
		return
	case p.folders+dirs > maxSession:
		reject(fmt.Sprintf("more than %d folders in one session", maxSession))
		return
	default:
		// Charged before Prepare, whether Prepare accepts the offer or
		// not: simple, and it can only over-count.
		p.folders += dirs
	}
	in, err := p.h.recv.Prepare(o)
	if errors.Is(err, transfer.ErrBusy) {
		p.answer(protocol.Reject{Transfer: o.Transfer, Reason: err.Error(), Code: protocol.CodeBusy})
		return
	}
	if transfer.NoRoom(err) {
		p.logf(slog.LevelWarn, "offer refused: no room", "id", p.info.ID, "name", p.info.Name, "reason", err.Error())
		p.answer(protocol.Reject{Transfer: protocol.Clip(o.Transfer, 64), Reason: err.Error(), Code: protocol.CodeNoRoom})
		return
	}
	if err != nil {
		reject(err.Error())
		return
	}
	p.recordFolders(o)
	if !in.Done() {
		p.mu.Lock()
		p.transfers[o.Transfer] = in
		p.mu.Unlock()
		kept = true // released when it ends (endIfDone, run)
	}
	p.answer(in.Accept())
}

// openEntriesLocked counts the entries of the client's open transfers,
// stored and relayed. p.mu is held.
func (p *peer) openEntriesLocked() int {
	n := 0
	for _, in := range p.transfers {
		n += in.Entries()
	}
	for _, r := range p.relaysOut {
		n += len(r.files)
	}
	return n
}

// senderGaveUp handles a Result from the sender: a file it will not send.
func (p *peer) senderGaveUp(r protocol.Result) {
	if in := p.transfer(r.Transfer); in != nil {
		in.Cancel(r.File)
		p.endIfDone(in)
	}
}

func (p *peer) transfer(id string) *transfer.Incoming {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.transfers[id]
}

func (p *peer) endIfDone(in *transfer.Incoming) {
	if !in.Done() {
		return
	}
	p.mu.Lock()
	_, ok := p.transfers[in.Transfer()]
	delete(p.transfers, in.Transfer())
	spec, held := p.holding[in.Transfer()]
	delete(p.holding, in.Transfer())
	p.mu.Unlock()
	if held {
		p.commitHold(in, spec)
	}
	if ok {
		p.releaseEntries(in.Entries())
		s := in.Stats()
		p.logf(slog.LevelInfo, "transfer received", "id", p.info.ID, "name", p.name(),
			"transfer", in.Transfer(), "stored", s.Stored, "failed", s.Failed, "bytes", s.Bytes)
		p.h.transferEnded()
	}
}

// acceptLoop receives data streams, at most MaxStreams at a time. It waits
// for a free slot before accepting the next, so a client that opens more
// streams fills yamux's bounded accept backlog and has the rest refused.
func (p *peer) acceptLoop() {
	for {
		select {
		case p.slots <- struct{}{}:
		case <-p.ctx.Done():
			return
		}
		st, err := p.sess.AcceptData(p.ctx)
		if err != nil {
			<-p.slots
			return
		}
		p.recvWG.Add(1)
		go func() {
			defer func() { <-p.slots; p.recvWG.Done() }()
			defer st.Close()
			p.receive(st)
		}()
	}
}

// staleOnAbort is a data stream whose Abort ends its whole session, and
// whose reads count as the client's activity (see peer.touch). The
// receiver aborts a stream when a newer transfer of the same file arrives:
// its sender is back on a new connection, so this one is stale (typically
// cut on the sender's side only, and not yet noticed here). Ending the
// session is also the only sure way to stop the stream: yamux v0.1.2 can
// hold a reader while it waits for the rest of a frame from a dead
// connection.
type staleOnAbort struct {
	*mux.Stream
	p *peer
}

func (s staleOnAbort) Read(b []byte) (int, error) {
	n, err := s.Stream.Read(b)
	if n > 0 {
		s.p.touch()
	}
	return n, err
}

func (s staleOnAbort) Abort() {
	s.Stream.Abort()
	s.p.sess.Close()
}

// receive reads the files of one data stream, one after another, until
// the sender closes it (see internal/datastream).
func (p *peer) receive(st *mux.Stream) {
	fs := datastream.NewReader(staleOnAbort{st, p})
	var o onward // where relayed files of this stream go on
	defer o.close()
	first := true
	for {
		h, err := fs.Next()
		if err == nil && h.IsChannel() {
			if first && h.To != "" && h.From == "" && h.FromID == 0 && h.FromIdentity == "" && h.Transfer == "" && h.File == 0 && h.Offset == 0 {
				p.channel(st, h)
				return
			}
			p.refuse(protocol.CodeBadMessage, "a channel's header must open its stream, and name only whom to call (to, to_identity)")
			return
		}
		first = false
		if err != nil {
			// A stream that ends where a header would start is done (or,
			// before its first file, a sender that gave up before writing
			// one). One that broke (cut, timed out) ended with its session
			// or its sender; neither is a protocol error.
			if p.ctx.Err() == nil && !errors.Is(err, mux.ErrClosed) && !errors.Is(err, mux.ErrTimeout) &&
				!errors.Is(err, mux.ErrAborted) && err != io.EOF {
				p.refuse(protocol.CodeBadMessage, "data stream header: "+err.Error())
			}
			return
		}
		if r := p.relayOut(h.Transfer); r != nil {
			if !p.relayFile(r, h, fs, &o) {
				return
			}
			continue
		}
		if p.relayGone(h.Transfer) {
			fs.Drain() // as relayFile does for a relay that failed
			return
		}
		if !p.receiveFile(h, fs) {
			return
		}
	}
}

// receiveFile receives one file of a data stream and answers for it. It
// reports whether the stream may go on to its next file.
func (p *peer) receiveFile(h protocol.DataHeader, fs *datastream.Reader) bool {
	in := p.transfer(h.Transfer)
	if in == nil {
		p.refuse(protocol.CodeBadMessage, fmt.Sprintf("data stream for unknown transfer %q", h.Transfer))
		return false
	}
	res, err := in.Receive(h, fs)
	if err != nil {
		p.refuse(protocol.CodeBadMessage, err.Error())
		return false
	}
	if res.Error != "" {
		level := slog.LevelInfo
		if res.Code == protocol.CodeNoRoom {
			level = slog.LevelWarn // the operator's to mend: the disk is full
		}
		p.logf(level, "file failed", "id", p.info.ID, "err", res.Error)
	} else {
		p.logf(slog.LevelDebug, "file stored", "id", p.info.ID, "file", res.Stored, "hash", res.Hash)
		p.recordUpload(res)
	}
	p.answer(res)
	p.endIfDone(in)
	if fs.Broken() != nil {
		// Cut mid-file, or out of step: read and drop what the sender
		// still sends until it closes the stream, so that yamux does not
		// buffer it (a closed stream keeps receiving into its window).
		fs.Drain()
		return false
	}
	return true
}
