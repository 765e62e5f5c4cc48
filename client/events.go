package client

import (
	"sync"
	"time"

	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// Names of the wire and report types a Session's caller sees, so that a
// program needs no other muxfer package to read them.
type (
	// Peer describes another client of the hub (Who, Presence).
	Peer = protocol.ClientInfo
	// File is one entry of an offer: a regular file, or a folder.
	File = protocol.File
	// Files is what a Send sends: from Paths or FromReader.
	Files = transfer.Manifest
	// Report is the outcome of a Send, file by file.
	Report = transfer.Report
	// FileReport is the outcome of one file sent or received.
	FileReport = transfer.FileReport
	// Skipped is a local path that Paths left out, and why.
	Skipped = transfer.Skipped
	// Hold is a held transfer: files sealed for people who were not
	// connected, which the hub keeps for them.
	Hold = protocol.Hold
)

// The Status of a FileReport.
const (
	Delivered   = transfer.Delivered   // stored and verified by both ends
	Failed      = transfer.Failed      // refused, cut for good, or its hash did not match
	Cancelled   = transfer.Cancelled   // the other side gave up on it
	Unconfirmed = transfer.Unconfirmed // sent, but no answer came before the connection ended
	NotSent     = transfer.NotSent     // never sent
)

// Event is one thing that happened in a Session: one of the types below,
// in the order it happened. Session.Events delivers them.
type Event interface{ isEvent() }

// Connected says the session has a connection to the hub at Addr, under
// Name: the first, or (Again) one that replaces a lost one. Wanted is the
// name asked for, when the hub gave another because it was taken.
type Connected struct {
	Addr, Name string
	ID         uint64
	Again      bool
	Wanted     string
}

// Disconnected says the connection was lost, and why. If Reconnecting,
// the session dials again (Retrying follows each failed attempt, and
// Connected the success); otherwise the session has ended.
type Disconnected struct {
	Err          error
	Reconnecting bool
}

// Retrying says an attempt to reconnect failed, and when the next is.
type Retrying struct {
	Attempt int
	Err     error
	Wait    time.Duration
}

// Message is a chat line from From, to everyone or, if To is set, to this
// client only (a direct message).
type Message struct {
	From         string
	FromID       uint64
	FromIdentity string // the sender's identity, in hex; "" for none
	To           string
	Text         string
}

// KeyChanged says that a name did not have the identity pinned for it
// (SessionConfig.KnownPeers), and what was stopped because of it: a
// direct message from it (not shown), one to it (not delivered), or an
// offer from it (declined unseen). A send to it ends with the same error
// instead (SendDone).
type KeyChanged struct {
	Err  *KeyChangedError
	What string // DirectMessageFrom, DirectMessageTo or OfferFrom
}

// What a KeyChanged stopped.
const (
	DirectMessageFrom = "message from"
	DirectMessageTo   = "message to"
	OfferFrom         = "offer from"
)

// Presence says another client joined, left, or (Kind "rename") changed
// its name from OldName to Peer.Name.
type Presence struct {
	Kind    string // protocol.Join, protocol.Leave or protocol.Rename
	Peer    Peer
	OldName string
}

// Notice is something the hub tells the session in words: that it shuts
// down, or (Code protocol.NoticeNoClient) that a direct message found
// nobody of its name.
type Notice struct {
	Code, Text string
}

// Offer is an offer of files from another client, numbered by the
// session from 1 so that a person can name it; the numbers go on across
// reconnects.
type Offer struct {
	N            int
	Transfer     string // the hub's id for it
	From         string
	FromID       uint64
	FromIdentity string // the sender's identity, in hex; "" for none
	Files        []File
	// Decision is SessionConfig.Decide's answer: Ask means the offer
	// waits for Session.Accept or Session.Decline.
	Decision Decision
	// Held, if set, says the files were sealed for this session's
	// identity while it was away, and wait on the hub (until
	// Held.Expires): From and FromIdentity are the sender's as its
	// signature proves them.
	Held *Hold
}

// Totals counts the offer's regular files and folders, and the files'
// bytes (a file of unknown size counts none).
func (o Offer) Totals() (files, folders int, bytes int64) {
	for _, f := range o.Files {
		if f.Dir {
			folders++
		} else {
			files++
			bytes += max(f.Size, 0)
		}
	}
	return files, folders, bytes
}

// Offered announces an offer made to this client.
type Offered struct{ Offer Offer }

// Withdrawn says an offer that waited for an answer is gone: its sender
// cancelled it or left, the hub's deadline passed, or the connection it
// came on was lost.
type Withdrawn struct {
	Offer  Offer
	Reason string
}

// FileStarted says the first bytes of a file are moving: into this
// client for offer Offer, or out of it for send Send (one of them is 0).
type FileStarted struct {
	Offer, Send int
	Path        string
}

// GetOffered says the hub sends Files files of Bytes bytes, and Folders
// folders, for get Get (Session.Get): a large get comes in several
// offers. Again says it is the first offer of another attempt, after a
// reconnect: what arrived whole is confirmed rather than sent again.
type GetOffered struct {
	Get            int
	Files, Folders int
	Bytes          int64
	Again          bool
}

// GetDone says get Get has ended, with Session.Get's results.
type GetDone struct {
	Get    int
	Report *GetReport
	Err    error
}

// Progress counts the bytes that moved since the last Progress of the
// same offer, send or get (one of them is set): Bytes written to the
// other side, and (for a send or a get) Held, bytes of files the receiver
// held already, which count as done without moving. Progress events that
// the caller has not taken yet are added together, so they never pile up.
type Progress struct {
	Offer, Send, Get int
	Bytes, Held      int64
}

// FileDone is the outcome of one regular file of offer Offer or get Get
// (received: Report.Path is the sender's name, Report.Stored the one it
// got here) or of send Send.
type FileDone struct {
	Offer, Send, Get int
	File             int    // a received file's index in Offer.Files
	From             string // the sender, for a received file
	To               string // the recipient of a sent file; "" for the hub
	Transfer         string // a received file's Offer.Transfer
	Report           FileReport
}

// OfferDone says an accepted offer has ended: every file has an outcome,
// or (Cut) the connection was lost with Left files not yet received,
// which resume when the sender offers them again.
type OfferDone struct {
	Offer            Offer
	Received, Failed int
	Left             int
	Bytes            int64 // of the files received
	Elapsed          time.Duration
	Cut              bool
}

// SendStarted says send Send offers Files files of Bytes bytes to To (the
// hub, if ""). Again says it offers what is left of an earlier attempt,
// after a reconnect or a wait: the files and bytes are what is left.
type SendStarted struct {
	Send  int
	To    string
	Files int
	Bytes int64
	Again bool
}

// SendWaiting says send Send waits on a connection that is up before it
// offers Files files again: the hub is busy with an earlier transfer of
// them, or the recipient left and may come back (Err says which).
type SendWaiting struct {
	Send  int
	Err   error
	Files int
	Wait  time.Duration
}

// SendDone says send Send has ended, with Session.Send's results. Held
// is set when the hub holds the files for their recipients, who were not
// connected: each file of Report delivered is in the hub's hold.
type SendDone struct {
	Send   int
	To     string
	Report *Report
	Err    error
	Held   *Held
}

func (Connected) isEvent()    {}
func (Disconnected) isEvent() {}
func (Retrying) isEvent()     {}
func (Message) isEvent()      {}
func (KeyChanged) isEvent()   {}
func (Presence) isEvent()     {}
func (Notice) isEvent()       {}
func (Offered) isEvent()      {}
func (Withdrawn) isEvent()    {}
func (FileStarted) isEvent()  {}
func (Progress) isEvent()     {}
func (FileDone) isEvent()     {}
func (OfferDone) isEvent()    {}
func (SendStarted) isEvent()  {}
func (SendWaiting) isEvent()  {}
func (SendDone) isEvent()     {}
func (GetOffered) isEvent()   {}
func (GetDone) isEvent()      {}

// maxQueued bounds the events a session holds for a caller that is slow
// to take them, counting every Progress of one offer or send as one.
// When it is full, what produces the next event waits (for messages from
// the hub, the connection's reader, which slows the hub down), or, until
// the caller first asks for the events, the oldest is dropped.
const maxQueued = 4096

// queue holds a session's events in order until Events' channel takes
// them.
type queue struct {
	mu       sync.Mutex
	on       bool // Events was called
	ended    bool // nothing more comes: the channel closes once it is empty
	items    []Event
	progress map[[3]int]*Progress // Progress events queued, by offer, send and get
	ready    chan struct{}        // a token when items grew or the queue ended
	room     chan struct{}        // a token when items shrank
	stop     chan struct{}        // closed by Close: the session is gone
}

func newQueue() *queue {
	return &queue{progress: map[[3]int]*Progress{}, ready: make(chan struct{}, 1),
		room: make(chan struct{}, 1), stop: make(chan struct{})}
}

// progressMark stands in items for the Progress in queue.progress.
type progressMark [3]int

func (progressMark) isEvent() {}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// push adds ev, waiting while the queue is full, unless the session is
// closed.
func (q *queue) push(ev Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ended {
		return
	}
	if p, ok := ev.(Progress); ok {
		key := [3]int{p.Offer, p.Send, p.Get}
		if have := q.progress[key]; have != nil {
			have.Bytes += p.Bytes
			have.Held += p.Held
			return
		}
		q.progress[key] = &p
		q.items = append(q.items, progressMark(key))
		signal(q.ready)
		return
	}
	if !q.on && len(q.items) >= maxQueued {
		// Nobody has asked for the events yet: keep the newest.
		if _, isMark := q.items[0].(progressMark); isMark {
			delete(q.progress, q.items[0].(progressMark))
		}
		q.items[0] = nil
		q.items = q.items[1:]
	}
	for q.on && len(q.items) >= maxQueued {
		q.mu.Unlock()
		select {
		case <-q.room:
		case <-q.stop:
			q.mu.Lock()
			return
		}
		q.mu.Lock()
	}
	q.items = append(q.items, ev)
	signal(q.ready)
}

// end says no more events come; the channel closes once it has given
// every event queued.
func (q *queue) end() {
	q.mu.Lock()
	q.ended = true
	q.mu.Unlock()
	signal(q.ready)
}

// pop takes the oldest event, waiting for one; ok is false once the queue
// has ended and is empty, or the session is closed.
func (q *queue) pop() (ev Event, ok bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			ev = q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			if key, isMark := ev.(progressMark); isMark {
				ev = *q.progress[key]
				delete(q.progress, key)
			}
			q.mu.Unlock()
			signal(q.room)
			return ev, true
		}
		ended := q.ended
		q.mu.Unlock()
		if ended {
			return nil, false
		}
		select {
		case <-q.ready:
		case <-q.stop:
			return nil, false
		}
	}
}

// start turns the queue on and returns the channel that gives its events,
// fed by a goroutine that ends when the queue has ended and is empty, or
// when the session is closed. wg owns that goroutine.
func (q *queue) start(wg *sync.WaitGroup) <-chan Event {
	out := make(chan Event)
	q.mu.Lock()
	q.on = true
	q.mu.Unlock()
	wg.Go(func() {
		defer close(out)
		for {
			ev, ok := q.pop()
			if !ok {
				return
			}
			select {
			case out <- ev:
			case <-q.stop:
				return
			}
		}
	})
	return out
}
