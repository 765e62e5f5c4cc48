package hub

import (
	"fmt"
	"sync"
)

// The hub holds about 150 bytes for each entry (file or folder) of an
// open transfer: 100,000 entries held 14 MiB. Each client's open entries
// are bounded (Config.MaxOpenEntries), and so are those of all the clients
// of one source address (MaxOpenEntriesPerAddr) and of the whole hub
// (MaxOpenEntriesTotal), so that a key holder's 32 sessions, each with
// offers it never sends, cannot take the hub's memory.

// entryBudget counts the entries of open transfers per source and in all.
// It is safe for concurrent use.
type entryBudget struct {
	bySource perSource
	mu       sync.Mutex
	total    int
}

// take counts n entries for s, or returns why not: s would hold more
// than perSource, or the hub more than total.
func (b *entryBudget) take(s source, n, perSource, total int) error {
	if !b.bySource.takeN(s, n, perSource) {
		return fmt.Errorf("more than %d files and folders in open transfers from %s: offer again when some are done", perSource, s)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total+n > total {
		b.bySource.releaseN(s, n)
		return fmt.Errorf("more than %d files and folders in open transfers on this hub: offer again when some are done", total)
	}
	b.total += n
	return nil
}

// release gives back n entries that take counted for s.
func (b *entryBudget) release(s source, n int) {
	b.bySource.releaseN(s, n)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total -= n
}

// takeEntries counts n entries of a new open transfer of the client's
// against its source's and the hub's budgets.
func (p *peer) takeEntries(n int) error {
	return p.h.entries.take(p.src, n, p.h.cfg.MaxOpenEntriesPerAddr, p.h.cfg.MaxOpenEntriesTotal)
}

// releaseEntries gives back what takeEntries counted, when the transfer
// ends or is refused.
func (p *peer) releaseEntries(n int) { p.h.entries.release(p.src, n) }
