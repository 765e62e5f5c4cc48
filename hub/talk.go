package hub

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/muxfer/muxfer/protocol"
)

// direct passes a chat line with To to the one client of that name
// (names compared as register compares them, lower-cased), marked with
// the recipient's name so that it shows as private. A name nobody has, or
// a recipient without the identity the line's ToIdentity expects, is
// answered with a Notice, and the session goes on.
func (p *peer) direct(m protocol.Chat) {
	p.h.mu.Lock()
	to := p.h.clients[p.h.names[strings.ToLower(m.To)]]
	var changed *protocol.Notice
	switch {
	case to == nil:
	case m.ToIdentity != "" && m.ToIdentity != to.info.Identity:
		changed = &protocol.Notice{Code: protocol.NoticeKeyChanged, To: to.info.Name, Identity: to.info.Identity,
			Text: fmt.Sprintf("not delivered: %s's key is not the one you expect", to.info.Name)}
	default:
		to.sayOrDrop(protocol.Chat{From: p.info.Name, FromID: p.info.ID, FromIdentity: p.info.Identity, To: to.info.Name, Text: m.Text})
	}
	p.h.mu.Unlock()
	switch {
	case to == nil:
		p.answer(protocol.Notice{Code: protocol.NoticeNoClient, Text: fmt.Sprintf("no client named %q", protocol.Clip(m.To, 4*MaxNameLen))})
	case changed != nil:
		p.answer(*changed)
	}
}

// rename gives the client the name it asked for in a Nick, if hello
// would have given it that name unchanged: cleaning must leave it as it
// is, no other connected client may have it, and it may not look like a
// name in use or used recently (names.go). The client hears its
// name either way (with the reason if it is the old one); the others
// hear a Presence "rename" if it changed.
func (p *peer) rename(want string) {
	old := p.info.Name
	h := p.h
	h.mu.Lock()
	owner, taken := h.names[strings.ToLower(want)]
	var refusal string
	clean, err := cleanName(want)
	switch {
	case h.membersOnly():
		refusal = "names on this hub come from its members file"
	case err != nil:
		refusal = err.Error()
	case clean != want:
		refusal = fmt.Sprintf("name %s is not allowed: use up to %d letters, digits, '-', '_' and '.'", quote(want), MaxNameLen)
	case taken && owner != p.info.ID:
		refusal = fmt.Sprintf("name %s is taken", quote(want))
	default:
		pub := p.sess.Identity()
		if r := h.owners.check(want, pub); r != nil {
			refusal = r.Text
		} else if err := h.book.check(want, old, time.Now()); err != nil {
			refusal = err.Error()
		} else if err := h.owners.take(want, pub); err != nil {
			h.log.Error("cannot record a name's owner", "name", want, "err", err)
			refusal = "the hub cannot record who owns the name: try again later"
		} else if want != old {
			delete(h.names, strings.ToLower(old))
			h.names[strings.ToLower(want)] = p.info.ID
			h.book.release(old, time.Now())
			h.book.take(want)
			p.mu.Lock()
			p.info.Name = want
			p.mu.Unlock()
		}
	}
	info := p.info
	h.mu.Unlock()
	if refusal != "" {
		p.logf(slog.LevelInfo, "rename refused", "id", info.ID, "name", old, "want", want, "reason", refusal)
		p.answer(protocol.Nick{Name: old, Error: refusal})
		return
	}
	p.answer(protocol.Nick{Name: want})
	if want != old {
		p.logf(slog.LevelInfo, "client renamed", "id", info.ID, "old_name", old, "name", want)
		h.broadcast(p, protocol.Presence{Event: protocol.Rename, Client: info, OldName: old})
	}
}

// name returns the client's name from any goroutine.
func (p *peer) name() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info.Name
}

// touch records that the client is active now: it sent a chat line or an
// offer, or bytes of a file arrived from it. Clients reports the time
// since as the client's idle time.
func (p *peer) touch() { p.active.Store(int64(time.Since(p.h.start))) }

// describe returns the client's ClientInfo as Clients lists it, with its
// idle time and open transfers. The caller holds the hub's mu.
func (p *peer) describe() protocol.ClientInfo {
	info := p.info
	info.IdleMS = max(0, int64(time.Since(p.h.start))-p.active.Load()) / int64(time.Millisecond)
	p.mu.Lock()
	info.Transfers = len(p.transfers)
	p.mu.Unlock()
	return info
}
