package hub

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// A relay is a transfer from one client to another through the hub. The
// sender knows it by the id it chose (senderID), the recipient by one the
// hub chose (id), so that neither client's ids can collide with the
// other's. The hub forwards the offer, the answer and each file's result
// between them, mapping the ids, and copies each file's bytes from the
// sender's data stream to one it opens to the recipient, storing nothing.
type relay struct {
	id       string // the recipient's id for the transfer
	senderID string // the sender's id for it
	from, to *peer
	files    []protocol.File

	mu       sync.Mutex
	accepted bool
	state    []relayState
	left     int         // regular files not yet answered for
	failed   bool        // ended early: every file was answered for at once
	ended    bool        // removed from both peers
	deadline *time.Timer // withdraws the offer if the recipient does not answer
}

// errRelayFailed is a header for a relay that ended early: the sender
// may have sent it before it read the failed results.
var errRelayFailed = errors.New("relay ended early")

// maxGoneRelays is how many ended relays' ids a sender's peer remembers,
// so that their data streams, already on their way, are dropped quietly
// rather than taken for a protocol error.
const maxGoneRelays = 64

type relayState uint8

const (
	relayWaiting  relayState = iota
	relaySending             // its header came from the sender
	relayAnswered            // the sender has its result, or cancelled it
)

// relayOffer handles an offer with To: it rejects it at once if nobody of
// that name is connected, or it is the sender itself, and otherwise
// forwards it to the recipient, who answers.
func (p *peer) relayOffer(o protocol.Offer) {
	reject := func(reason string) {
		p.logf(slog.LevelInfo, "relay refused", "id", p.info.ID, "name", p.info.Name, "to", o.To, "reason", reason)
		p.answer(protocol.Reject{Transfer: protocol.Clip(o.Transfer, 64), Reason: reason})
	}
	// The cheap checks first: the offer's paths cost time in proportion
	// to their length, and an offer to nobody is not worth it.
	to := p.h.byName(o.To)
	switch {
	case to == nil:
		// Code away: a sender whose recipient left mid-transfer offers
		// again until it is back.
		p.logf(slog.LevelInfo, "relay refused", "id", p.info.ID, "name", p.info.Name, "to", o.To, "reason", "away")
		p.answer(protocol.Reject{Transfer: protocol.Clip(o.Transfer, 64), Reason: fmt.Sprintf("nobody called %q is connected", protocol.Clip(o.To, MaxNameLen*4)), Code: protocol.CodeAway})
		return
	case to == p:
		reject("cannot send files to yourself")
		return
	case o.ToIdentity != "" && o.ToIdentity != to.info.Identity:
		// The sender pinned another key for this name: nothing of the
		// offer reaches this client.
		p.logf(slog.LevelInfo, "relay refused", "id", p.info.ID, "name", p.info.Name, "to", o.To, "reason", "identity")
		p.answer(protocol.Reject{Transfer: protocol.Clip(o.Transfer, 64), Code: protocol.CodeIdentity, Identity: to.info.Identity,
			Reason: fmt.Sprintf("%s's key is not the one you expect", to.name())})
		return
	}
	if err := transfer.CheckOffer(o); err != nil {
		reject(err.Error())
		return
	}
	// The offer as the recipient will get it must fit in a control frame
	// (the hub writes it with other members, and an encoder may escape
	// more than the sender's did): refuse it here rather than send the
	// recipient what it would take for a broken connection.
	toName := to.name() // the recipient may rename meanwhile, on its own goroutine
	fwd := protocol.Offer{Transfer: strings.Repeat("0", 32), From: p.info.Name, FromID: p.info.ID, FromIdentity: p.info.Identity,
		Files: p.h.relayTokens(o.Files, toName)}
	enc, err := protocol.Encode(fwd)
	if err == nil {
		err = protocol.CheckControlFrame(enc)
	}
	if err != nil {
		reject(fmt.Sprintf("offer too large to relay (%v): offer fewer files at once", err))
		return
	}
	r := &relay{senderID: o.Transfer, from: p, to: to, files: o.Files, state: make([]relayState, len(o.Files))}
	for _, f := range o.Files {
		if !f.Dir {
			r.left++
		}
	}
	if err := p.takeEntries(len(o.Files)); err != nil {
		p.logf(slog.LevelInfo, "relay refused for now", "id", p.info.ID, "name", p.info.Name, "reason", err)
		p.answer(protocol.Reject{Transfer: o.Transfer, Reason: err.Error(), Code: protocol.CodeBusy})
		return
	}
	// The sender's map first: its read loop is the only one adding to
	// it, so the checks made before still hold.
	p.mu.Lock()
	p.relaysOut[o.Transfer] = r
	p.mu.Unlock()
	if err := to.addIncomingRelay(r); err != nil {
		p.mu.Lock()
		delete(p.relaysOut, o.Transfer)
		p.mu.Unlock()
		p.releaseEntries(len(o.Files))
		var busy busyError
		if errors.As(err, &busy) {
			p.logf(slog.LevelInfo, "relay refused for now", "id", p.info.ID, "name", p.info.Name, "to", o.To, "reason", err)
			p.answer(protocol.Reject{Transfer: o.Transfer, Reason: err.Error(), Code: protocol.CodeBusy})
			return
		}
		reject(err.Error())
		return
	}
	p.logf(slog.LevelInfo, "relay offered", "from", p.info.Name, "to", toName, "transfer", r.id, "files", len(o.Files))
	wait := p.h.cfg.OfferTimeout
	r.mu.Lock() // before the answer can arrive
	r.deadline = time.AfterFunc(wait, func() { r.expire(fmt.Sprintf("%s did not answer within %s", toName, wait)) })
	r.mu.Unlock()
	fwd.Transfer = r.id // as long as the placeholder measured above
	if !to.tell(fwd) {
		// Its queue stayed full: its writer makes progress (or it would
		// have been disconnected), but too slowly for this offer.
		r.fail(fmt.Sprintf("%s is too busy to be told of the offer: offer again shortly", toName), protocol.CodeBusy)
	}
}

// relayTokens returns files with each resume token replaced by one derived
// from it for the recipient. A token is a capability on the hub: the
// recipient must not learn the sender's, or it could take over the
// sender's uploads of the same files. The same file sent again to the
// same name gets the same token (while the hub runs), so that the
// recipient's part of it can be resumed.
func (h *Hub) relayTokens(files []protocol.File, to string) []protocol.File {
	out := make([]protocol.File, len(files))
	for i, f := range files {
		if f.Resume != "" {
			m := hmac.New(sha256.New, h.relaySecret[:])
			m.Write([]byte("muxfer relay token\x00" + strings.ToLower(to) + "\x00" + f.Resume))
			f.Resume = hex.EncodeToString(m.Sum(nil)[:protocol.ResumeTokenLen/2])
		}
		out[i] = f
	}
	return out
}

// addIncomingRelay gives r an id unused by this peer's own transfers and
// relays, and files it among the peer's incoming relays, unless the peer
// is leaving or has too many waiting.
func (p *peer) addIncomingRelay(r *relay) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.relaysIn == nil:
		return fmt.Errorf("%s has left", p.info.Name)
	case len(p.relaysIn) >= MaxTransfers:
		return fmt.Errorf("%s has %d transfers to receive already", p.info.Name, MaxTransfers)
	}
	// Offers from one source address that wait for an answer: one
	// address cannot take every slot, however many sessions it opens.
	// Accepted relays are the recipient's choice and do not count.
	waiting := 0
	for _, other := range p.relaysIn {
		if sameSource(other.from, r.from) && !other.isAccepted() {
			waiting++
		}
	}
	if limit := p.h.cfg.MaxRelaysFromOne; waiting >= limit {
		return busyError{fmt.Sprintf("%s has %d offers from your address to answer already: offer again when some are answered", p.info.Name, limit)}
	}
	for {
		var b [16]byte
		rand.Read(b[:])
		r.id = hex.EncodeToString(b[:])
		_, a := p.transfers[r.id]
		_, b2 := p.relaysIn[r.id]
		_, c := p.relaysOut[r.id]
		if !a && !b2 && !c {
			break
		}
	}
	p.relaysIn[r.id] = r
	return nil
}

// busyError is a refusal that may succeed if the same offer comes again
// later: it goes to the sender with code busy.
type busyError struct{ text string }

func (e busyError) Error() string { return e.text }

// sameSource reports whether two clients count as one for the limits per
// source address: the same address, or the same session where there is
// none (a pipe in tests).
func sameSource(a, b *peer) bool {
	return a == b || a.src.p.IsValid() && a.src == b.src
}

// byName returns the connected client called name (letter case ignored),
// or nil.
func (h *Hub) byName(name string) *peer {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.clients[h.names[strings.ToLower(name)]]
}

func (p *peer) relayIn(id string) *relay {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.relaysIn[id]
}

func (p *peer) relayOut(id string) *relay {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.relaysOut[id]
}

// recipientAccepts forwards the recipient's accept to the sender. An
// accept for a relay it does not know, or answered already, is dropped:
// the sender may have left meanwhile.
func (p *peer) recipientAccepts(a protocol.Accept) {
	r := p.relayIn(a.Transfer)
	if r == nil {
		return
	}
	r.mu.Lock()
	late := r.accepted || r.failed // a second answer, or one after the deadline
	r.accepted = true
	done := r.left == 0
	r.mu.Unlock()
	if late {
		return
	}
	// Only what a real receiver says, so that the accept passed on fits
	// a control frame: a file of the offer once, with a hash of the
	// length a hash has, and no more than a receiver lists.
	have := a.Have[:0:0]
	listed := map[int]bool{}
	for _, h := range a.Have {
		if len(have) == transfer.MaxHave {
			break
		}
		if h.File >= 0 && h.File < len(r.files) && !r.files[h.File].Dir && !listed[h.File] && h.Offset >= 0 && wellFormedHash(h.Hash) {
			listed[h.File] = true
			have = append(have, h)
		}
	}
	r.from.answer(protocol.Accept{Transfer: r.senderID, Have: have})
	if done {
		r.end() // folders only
	}
}

// recipientRejects forwards the recipient's refusal to the sender.
func (p *peer) recipientRejects(rj protocol.Reject) {
	r := p.relayIn(rj.Transfer)
	if r == nil {
		return
	}
	if r.isAccepted() {
		return
	}
	reason := protocol.Clip(rj.Reason, protocol.MaxReasonLen)
	if reason == "" {
		reason = "declined"
	}
	r.from.answer(protocol.Reject{Transfer: r.senderID, Reason: fmt.Sprintf("%s: %s", p.info.Name, reason)})
	r.end()
}

// recipientResult forwards the recipient's result for a file. One before
// the recipient accepted the offer is dropped: the sender would not
// expect it.
func (p *peer) recipientResult(res protocol.Result) {
	r := p.relayIn(res.Transfer)
	if r == nil {
		return
	}
	if r.isAccepted() {
		r.answer(res.File, clipResult(res))
	}
}

// senderCancels forwards the sender's cancellation of a file.
func (p *peer) senderCancels(res protocol.Result) {
	r := p.relayOut(res.Transfer)
	if r == nil {
		return
	}
	r.mu.Lock()
	ok := res.File >= 0 && res.File < len(r.state) && !r.files[res.File].Dir && r.state[res.File] == relayWaiting
	if ok {
		r.state[res.File] = relayAnswered
		r.left--
	}
	done := r.left == 0
	r.mu.Unlock()
	if !ok {
		return
	}
	r.to.say(protocol.Result{Transfer: r.id, File: res.File, Error: protocol.Clip(res.Error, protocol.MaxReasonLen)})
	if done {
		r.end()
	}
}

// wellFormedHash reports whether s is a hash as receivers write it:
// "xxh3-128:" and 32 lower-case hex digits.
func wellFormedHash(s string) bool {
	const prefix = "xxh3-128:"
	if len(s) != len(prefix)+32 || !strings.HasPrefix(s, prefix) {
		return false
	}
	for _, c := range []byte(s[len(prefix):]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// clipResult bounds the fields of a result that one client sends for the
// hub to pass on to another: what the receiver says it stored the file
// as, its hash and its error, each to the most a real result holds.
func clipResult(res protocol.Result) protocol.Result {
	res.Hash = protocol.Clip(res.Hash, 64)
	res.Stored = protocol.Clip(res.Stored, transfer.MaxPathLen)
	res.Error = protocol.Clip(res.Error, protocol.MaxReasonLen)
	res.Code = protocol.Clip(res.Code, 32)
	return res
}

// isAccepted reports whether the recipient has accepted the offer.
func (r *relay) isAccepted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accepted
}

// expire withdraws an offer the recipient has not answered within the
// hub's OfferTimeout: the sender gets a reject, the recipient a reject
// that withdraws the offer. An answer from now on is ignored.
func (r *relay) expire(why string) {
	r.mu.Lock()
	stale := !r.accepted && !r.failed
	r.mu.Unlock()
	if stale {
		r.fail(why, "")
	}
}

// answer sends the sender the result for file idx, unless it has one
// already. res names the transfer by either id.

func (r *relay) answer(idx int, res protocol.Result) {
	r.mu.Lock()
	ok := idx >= 0 && idx < len(r.state) && !r.files[idx].Dir && r.state[idx] != relayAnswered
	if ok {
		r.state[idx] = relayAnswered
		r.left--
	}
	done := r.left == 0
	r.mu.Unlock()
	if !ok {
		return
	}
	res.Transfer, res.File = r.senderID, idx
	r.from.answer(res)
	if done {
		r.end()
	}
}

// start marks file idx as on its way, and reports whether its header is
// one the sender may send: a regular file of the offer, accepted, not sent
// or cancelled before.
func (r *relay) start(idx int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.failed:
		return errRelayFailed
	case !r.accepted:
		return fmt.Errorf("data stream for transfer %q before it was accepted", r.senderID)
	case idx >= len(r.files):
		return fmt.Errorf("transfer %s has no file %d", r.senderID, idx)
	case r.files[idx].Dir:
		return fmt.Errorf("transfer %s: entry %d is a folder", r.senderID, idx)
	case r.state[idx] != relayWaiting:
		return fmt.Errorf("transfer %s: file %d sent twice, or after it was cancelled", r.senderID, idx)
	}
	r.state[idx] = relaySending
	return nil
}

// fail ends the relay early for why: the sender gets a failed result for
// every file not answered yet (refused, if the recipient had not
// accepted), and the recipient is told that every file not yet on its
// way is cancelled (or, if it had not answered, that the offer is
// withdrawn). code goes with the sender's reject or results: CodeAway
// when the recipient left.
func (r *relay) fail(why, code string) { r.failBy(why, code, time.Now().Add(r.from.h.stall)) }

// failBy is fail with a deadline for queuing the sender's answers, which
// a caller failing many relays at once shares among them.
func (r *relay) failBy(why, code string, deadline time.Time) {
	r.mu.Lock()
	if r.failed {
		r.mu.Unlock()
		return
	}
	accepted := r.accepted
	var pending, waiting []int
	for i, st := range r.state {
		if r.files[i].Dir || st == relayAnswered {
			continue
		}
		pending = append(pending, i)
		if st == relayWaiting {
			waiting = append(waiting, i)
		}
		r.state[i] = relayAnswered
	}
	r.left = 0
	r.failed = true
	r.mu.Unlock()
	if !accepted {
		r.from.answerBy(protocol.Reject{Transfer: r.senderID, Reason: why, Code: code}, deadline)
		r.to.sayOrDrop(protocol.Reject{Transfer: r.id, Reason: why})
		r.end()
		return
	}
	for _, i := range pending {
		// One deadline for them all: a sender that does not read must
		// not hold a leaving recipient for an I/O timeout per file.
		if !r.from.answerBy(protocol.Result{Transfer: r.senderID, File: i, Error: fmt.Sprintf("%s: %s", r.files[i].Path, why), Code: code}, deadline) {
			break
		}
	}
	for _, i := range waiting {
		r.to.sayOrDrop(protocol.Result{Transfer: r.id, File: i, Error: why})
	}
	r.end()
}

// end removes the relay from both peers, once.
func (r *relay) end() {
	r.mu.Lock()
	ended, failed := r.ended, r.failed
	r.ended = true
	if r.deadline != nil {
		r.deadline.Stop()
	}
	r.mu.Unlock()
	if ended {
		return
	}
	r.from.releaseEntries(len(r.files))
	r.from.mu.Lock()
	if r.from.relaysOut != nil {
		delete(r.from.relaysOut, r.senderID)
	}
	if failed {
		r.from.rememberGone(r.senderID)
	}
	r.from.mu.Unlock()
	r.to.mu.Lock()
	if r.to.relaysIn != nil {
		delete(r.to.relaysIn, r.id)
	}
	r.to.mu.Unlock()
	r.from.logf(slog.LevelInfo, "relay ended", "from", r.from.name(), "to", r.to.name(), "transfer", r.id, "early", failed)
	r.from.h.transferEnded()
}

// endRelays fails the relays of a peer that is leaving, in both
// directions, and stops new ones from reaching it.
func (p *peer) endRelays() {
	p.mu.Lock()
	out, in := p.relaysOut, p.relaysIn
	p.relaysOut, p.relaysIn = nil, nil
	p.mu.Unlock()
	// One deadline for all: a leaving client must not be held for an
	// I/O timeout per relay by peers that do not read.
	deadline := time.Now().Add(p.h.stall)
	for _, r := range out {
		r.failBy(fmt.Sprintf("%s, the sender, left", p.info.Name), "", deadline)
	}
	for _, r := range in {
		r.failBy(fmt.Sprintf("%s left before receiving it", p.info.Name), protocol.CodeAway, deadline)
	}
}

// hasLeft reports whether the peer's session has ended (its relays are
// failed or being failed).
func (p *peer) hasLeft() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.relaysIn == nil
}

// rememberGone keeps the id of a relay that ended early, forgetting the
// oldest beyond maxGoneRelays; p.mu is held.
func (p *peer) rememberGone(id string) {
	if p.relaysGone == nil {
		p.relaysGone = map[string]bool{}
	}
	if len(p.goneOrder) == maxGoneRelays {
		delete(p.relaysGone, p.goneOrder[0])
		p.goneOrder = p.goneOrder[1:]
	}
	p.relaysGone[id] = true
	p.goneOrder = append(p.goneOrder, id)
}

// relayGone reports whether id is a relay of this sender that ended early.
func (p *peer) relayGone(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.relaysGone[id]
}
