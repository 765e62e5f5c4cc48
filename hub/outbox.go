package hub

import (
	"log/slog"
	"time"

	"github.com/muxfer/muxfer/protocol"
)

// A client's messages wait in two queues for its writer (see
// peer.writeLoop): answers to its own requests, and everything else. The
// queues hold encoded messages and are bounded twice: in messages (the
// channels' capacity) and in bytes, per client (Config.MaxClientQueue)
// and over all clients (Config.MaxQueuedBytes). A message that would not
// fit in a control frame (protocol.MaxControlFrame, which every client
// enforces) is never queued: a client must never be disconnected for what
// another client sent.

// outMsg is an encoded message waiting for the writer.
type outMsg struct {
	typ string // the message's type, as Message.Type returns it
	b   []byte // protocol.Encode's output
}

// delivery says what to do with a message for a queue that is full.
type delivery int

const (
	// dropIfFull: the client misses it (chat, presence and notices
	// broadcast to everyone, which must not wait for one slow client).
	dropIfFull delivery = iota
	// waitForRoom: wait for the writer to make room, and disconnect the
	// client as too slow if it sends nothing for the hub's I/O timeout
	// (see pushBy). The caller is held back meanwhile, as a relayed
	// stream is by a recipient that does not read. Never used while
	// holding the hub's or a peer's mu.
	waitForRoom
	// always: queue it past the byte bounds if the channel has room, or
	// drop it: the last words before a session ends (an Error, a Bye).
	always
	// overHubBound: as waitForRoom, but past the hub's bound over all
	// clients (see pushBy).
	overHubBound
)

// encode encodes m for a queue, or returns nil (and logs why) if it
// cannot be sent: over the control frame's limit, which the hub's own
// bounds on forwarded fields should make impossible.
func (h *Hub) encode(m protocol.Message) []byte {
	b, err := protocol.Encode(m)
	if err == nil {
		err = protocol.CheckControlFrame(b)
	}
	if err != nil {
		h.log.Error("message not sent", clipArgs([]any{"type", m.Type(), "err", err})...)
		return nil
	}
	return b
}

// push encodes m and queues it on q as how says.
func (p *peer) push(q chan outMsg, m protocol.Message, how delivery) {
	p.pushMsg(q, m, how, time.Time{})
}

// pushMsg encodes m and queues it on q as pushBy does, and reports
// whether it did.
func (p *peer) pushMsg(q chan outMsg, m protocol.Message, how delivery, deadline time.Time) bool {
	b := p.h.encode(m)
	return b != nil && p.pushBy(q, outMsg{typ: m.Type(), b: b}, how, deadline)
}

// pushEncoded queues msg on q as how says, waiting (waitForRoom) as long
// as the client's writer makes progress.
func (p *peer) pushEncoded(q chan outMsg, msg outMsg, how delivery) {
	p.pushBy(q, msg, how, time.Time{})
}

// pushBy is pushEncoded with a deadline for waitForRoom, after which it
// gives up and reports false: a relayed offer that cannot be told in time
// is refused to its sender, and a caller that queues many messages in a
// row gives them one deadline. With the zero deadline it waits as long as
// the client's writer sends something every I/O timeout: a message that
// must arrive is never dropped, and a client that reads slowly but
// steadily is never taken for too slow, whoever fills its queue.
//
// Either way, a client whose writer has sent nothing for the I/O timeout
// while the push waited is disconnected as too slow. And a push that has
// waited the I/O timeout for the hub's bound over all clients (not the
// client's own) is queued past it: those who filled it are being
// disconnected, and this client must not miss an answer for their doing;
// its own bound still holds, so the excess is bounded.
func (p *peer) pushBy(q chan outMsg, msg outMsg, how delivery, deadline time.Time) bool {
	var timer *time.Timer
	for {
		hubRoom := p.h.roomWait() // before trying: a wake after the try closes it
		full := p.tryPush(q, msg, how)
		if full == roomEnough {
			return true
		}
		switch how {
		case always:
			return false
		case dropIfFull:
			p.logf(slog.LevelWarn, "client's queue is full, it misses a message", "id", p.info.ID, "type", msg.typ)
			return false
		}
		if timer == nil {
			wait := p.h.stall
			if !deadline.IsZero() {
				wait = min(wait, time.Until(deadline))
			}
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		select {
		case <-p.room:
			continue
		case <-hubRoom:
			continue
		case <-p.ctx.Done():
			return false
		case <-timer.C:
		}
		switch {
		case full == clientFull && time.Since(p.lastSent()) >= p.h.stall:
			p.logf(slog.LevelWarn, "client too slow, disconnecting", "id", p.info.ID, "name", p.name(), "queued_bytes", p.queued.Load())
			p.sess.Close()
			return false
		case !deadline.IsZero() && !time.Now().Before(deadline):
			return false
		case full == hubFull:
			return p.tryPush(q, msg, overHubBound) == roomEnough
		}
		next := p.h.stall
		if !deadline.IsZero() {
			next = min(next, time.Until(deadline))
		}
		timer.Reset(next)
	}
}

// lastSent is when the client's writer last finished sending a message
// (or, before the first, when the client joined).
func (p *peer) lastSent() time.Time {
	return p.h.start.Add(time.Duration(p.wrote.Load()))
}

// fullness is why tryPush could not queue a message.
type fullness int

const (
	roomEnough fullness = iota // it did queue it
	clientFull                 // the client's own queue is full, or the session ended
	hubFull                    // the hub's bound over all clients is reached
)

// tryPush queues msg on q if the queue and the byte bounds have room for
// it, and otherwise says which is full. A message that always goes needs
// only the channel's room; a broadcast (dropIfFull) may fill only half of
// each byte bound, so that answers and relayed messages, which must
// arrive, always find room that chat cannot take.
func (p *peer) tryPush(q chan outMsg, msg outMsg, how delivery) fullness {
	n := int64(len(msg.b))
	mineMax, allMax := p.h.cfg.MaxClientQueue, p.h.cfg.MaxQueuedBytes
	if how == dropIfFull {
		mineMax, allMax = mineMax/2, allMax/2
	}
	p.qmu.Lock()
	defer p.qmu.Unlock()
	if p.qclosed {
		return clientFull
	}
	mine, all := p.queued.Add(n), p.h.queued.Add(n)
	switch {
	case how == always:
	case mine > mineMax && mine > n:
		// One message always fits an empty queue of a client's own, so
		// that the largest message can be sent at all.
		p.unqueue(n)
		return clientFull
	case all > allMax && how != overHubBound:
		p.unqueue(n)
		// Starved first, then look again: a writer that made room
		// before this was set did not wake anybody.
		p.h.starved.Store(true)
		if p.h.queued.Add(n) > allMax {
			p.h.queued.Add(-n)
			return hubFull
		}
		p.queued.Add(n)
	}
	select {
	case q <- msg:
		return roomEnough
	default:
		p.unqueue(n)
		return clientFull
	}
}

// roomWait returns a channel that is closed when some client's writer
// sends a message after a push found the hub's bound reached.
func (h *Hub) roomWait() <-chan struct{} {
	h.roomMu.Lock()
	defer h.roomMu.Unlock()
	return h.room
}

// wakeStarved wakes the pushes waiting for the hub's bound, if any.
func (h *Hub) wakeStarved() {
	if !h.starved.CompareAndSwap(true, false) {
		return
	}
	h.roomMu.Lock()
	close(h.room)
	h.room = make(chan struct{})
	h.roomMu.Unlock()
}

// unqueue takes n bytes off the client's and the hub's queued counts.
func (p *peer) unqueue(n int64) {
	p.queued.Add(-n)
	p.h.queued.Add(-n)
}

// sent releases what msg held once the writer has sent (or dropped) it,
// and wakes a push waiting for room.
func (p *peer) sent(msg outMsg) {
	p.wrote.Store(int64(time.Since(p.h.start)))
	p.unqueue(int64(len(msg.b)))
	select {
	case p.room <- struct{}{}:
	default:
	}
	p.h.wakeStarved()
}

// closeQueues drops what is left in the queues when the writer has
// ended, and refuses every later push, so that the hub's count of
// queued bytes holds only what writers will send.
func (p *peer) closeQueues() {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	p.qclosed = true
	defer p.h.wakeStarved()
	for _, q := range []chan outMsg{p.answers, p.out} {
		for {
			select {
			case m := <-q:
				p.unqueue(int64(len(m.b)))
				continue
			default:
			}
			break
		}
	}
}
