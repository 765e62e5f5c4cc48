// Package route hands the control messages of a session to the transfer
// they belong to: a sender subscribes to its transfer's id, and the
// session's reading goroutine routes each Accept, Reject and Result by id.
package route

import (
	"sync"

	"github.com/muxfer/muxfer/protocol"
)

// Table holds the subscriptions of one session. Its zero value is ready.
type Table struct {
	mu   sync.Mutex
	subs map[string]*sub
}

type sub struct {
	ch   chan protocol.Message
	quit chan struct{}
}

// Route hands m to the transfer id, waiting while that transfer is busy,
// and reports whether a transfer of that id was subscribed.
func (t *Table) Route(id string, m protocol.Message) bool {
	t.mu.Lock()
	s := t.subs[id]
	t.mu.Unlock()
	if s == nil {
		return false
	}
	select {
	case s.ch <- m:
	case <-s.quit:
	}
	return true
}

// Has reports whether transfer id is subscribed.
func (t *Table) Has(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.subs[id] != nil
}

// Subscribe delivers the messages of transfer id until cancel is called.
func (t *Table) Subscribe(id string) (msgs <-chan protocol.Message, cancel func()) {
	s := &sub{ch: make(chan protocol.Message, 64), quit: make(chan struct{})}
	t.mu.Lock()
	if t.subs == nil {
		t.subs = map[string]*sub{}
	}
	t.subs[id] = s
	t.mu.Unlock()
	return s.ch, func() {
		t.mu.Lock()
		if t.subs[id] == s {
			delete(t.subs, id)
		}
		t.mu.Unlock()
		close(s.quit)
	}
}
