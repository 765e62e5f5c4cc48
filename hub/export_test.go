package hub

// Handshaking returns the number of connections in their handshake.
func (h *Hub) Handshaking() int { return len(h.handshakes) }

// SetNameLimit lowers the highest suffix the hub tries when a name is
// taken, so that a test need not connect a thousand clients to run out.
func (h *Hub) SetNameLimit(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nameLimit = n
}

// Promised is the disk space the hub still holds for transfers in flight.
func (h *Hub) Promised() int64 { return h.recv.Promised() }

// Queued is the bytes of messages queued for all clients' writers.
func (h *Hub) Queued() int64 { return h.queued.Load() }

// OpenEntries is the entries of all clients' open transfers, as the hub
// counts them against MaxOpenEntriesTotal.
func (h *Hub) OpenEntries() int {
	h.entries.mu.Lock()
	defer h.entries.mu.Unlock()
	return h.entries.total
}

// OpenStreams is how many data streams the hub counts open, in all.
func (h *Hub) OpenStreams() int64 { return h.admit.streamsOpen.Load() }

// RefusedStreams is how many data streams the hub has refused.
func (h *Hub) RefusedStreams() int64 { return h.admit.refusedStreams.Load() }
