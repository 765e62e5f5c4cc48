package mux

import (
	"sync"
	"time"
)

// A chat line waits behind the data frames queued before it: yamux sends
// frames in the order they are queued, one data frame per writing stream
// at a time, and then behind the bytes the kernel holds unsent (bounded by
// TCP_NOTSENT_LOWAT, see tune). Frames sized to about a millisecond of
// the connection's current rate keep that wait short on any link (16 KiB
// on 100 Mbit/s, so four streams add about 5 ms), while on a fast link
// they grow to 256 KiB, so that the cost of each frame (a yamux header,
// a TLS record, a hand-off between goroutines) stays small next to its
// bytes.

// Frame sizes chosen by the pacer.
const (
	minFrame  = 16 << 10
	maxFrame  = 256 << 10
	frameTime = time.Millisecond // of the link's rate, per frame
	rateEvery = 50 * time.Millisecond
)

// pacer measures the rate at which a session's data frames leave, and
// sizes frames from it.
type pacer struct {
	mu    sync.Mutex
	start time.Time // of the current measure
	bytes int64     // written since start
	frame int       // the size in use
}

func newPacer() *pacer { return &pacer{frame: minFrame} }

// size returns the frame size to use now.
func (p *pacer) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frame
}

// wrote counts n bytes written by the data stream, and every rateEvery
// sets the frame size to frameTime of the rate seen meanwhile. After a
// pause the measure starts again, from the smallest frame.
func (p *pacer) wrote(n int, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch elapsed := now.Sub(p.start); {
	case elapsed > 4*rateEvery: // idle: the old rate says nothing
		p.start, p.bytes, p.frame = now, int64(n), minFrame
	case elapsed >= rateEvery:
		p.bytes += int64(n)
		rate := float64(p.bytes) / elapsed.Seconds()
		p.frame = min(max(int(rate*frameTime.Seconds()), minFrame), maxFrame)
		p.start, p.bytes = now, 0
	default:
		p.bytes += int64(n)
	}
}
