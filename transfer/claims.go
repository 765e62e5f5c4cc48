package transfer

import "time"

// claimWait bounds how long an offer waits for a file's token that another
// transfer holds, after asking it to let go.
const claimWait = 2 * time.Second

// claim is one file's hold on its resume token: the transfer receiving it.
type claim struct {
	in  *Incoming
	idx int
}

// claim reserves key for file idx of in. If another transfer holds it,
// that one is asked to let go, and claim waits for it until deadline; it
// returns false if the holder has not let go by then.
//
// The newer offer wins because it is almost always the same sender back
// after a cut: its old transfer holds the files until the receiver notices
// that the old connection is gone, which may take the keepalive's 45 s
// when only the sender's side saw the cut. Tokens are secret to their
// sender, so nobody else can take a file over this way.
func (r *Receiver) claim(key string, in *Incoming, idx int, deadline time.Time) bool {
	b := &r.book
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		holder := b.claimed[key]
		if holder == nil {
			break
		}
		if b.released == nil {
			b.released = make(chan struct{})
		}
		released := b.released
		wait := time.Until(deadline)
		if wait <= 0 {
			return false
		}
		b.mu.Unlock()
		holder.in.yield(holder.idx)
		t := time.NewTimer(wait)
		select {
		case <-released:
		case <-t.C:
		}
		t.Stop()
		b.mu.Lock()
	}
	if b.claimed == nil {
		b.claimed = map[string]*claim{}
	}
	b.claimed[key] = &claim{in, idx}
	return true
}

// unclaim releases key, if file idx of in holds it.
func (r *Receiver) unclaim(key string, in *Incoming, idx int) {
	if key == "" {
		return
	}
	b := &r.book
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.claimed[key]; c == nil || c.in != in || c.idx != idx {
		return
	}
	delete(b.claimed, key)
	if b.released != nil {
		close(b.released)
		b.released = nil
	}
}

// yield lets go of file idx for a newer transfer of the same file: a file
// that has not started is given up; one being received has its stream
// aborted, so that its Receive ends, keeps the part and releases the
// token.
func (in *Incoming) yield(idx int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch in.state[idx] {
	case waiting:
		in.taken[idx] = true
		in.giveUp(idx)
	case receiving:
		in.taken[idx] = true
		if abort := in.aborts[idx]; abort != nil {
			abort()
		}
	}
}
