package mux

import (
	"sync"
	"time"
)

// A chat line waits behind the data frames queued before it (yamux sends
// frames in the order they are queued, at most one per writing data
// stream), then behind the bytes the kernel holds unsent, then behind the
// bytes in flight on the link. The last are the congestion control's
// business (BBR, the default here, keeps the bottleneck's queue short);
// the first two are ours. Frames of about a millisecond of the
// connection's measured rate, and TCP_NOTSENT_LOWAT at about two, keep
// that wait short on a slow link (16 KiB frames and 32 KiB unsent on
// 100 Mbit/s: a few milliseconds) and cheap on a fast one, where they
// grow to 256 KiB and 1 MiB so that the cost of each frame (a yamux
// header, a TLS record, a hand-off between goroutines) and of each wake-up
// stays small next to its bytes.

// Sizes chosen by the pacer.
const (
	minFrame  = 16 << 10
	maxFrame  = 256 << 10
	frameTime = time.Millisecond // of the link's rate, per frame
	minLowat  = 32 << 10
	maxLowat  = 1 << 20
	lowatTime = 2 * time.Millisecond // of the link's rate, unsent in the kernel
	rateEvery = 50 * time.Millisecond
)

// pacer measures the rate at which a session's data frames leave, and
// sizes frames, and the kernel's unsent bytes, from it.
type pacer struct {
	setLowat func(int) // sets TCP_NOTSENT_LOWAT; nil if fixed or unknown

	mu    sync.Mutex
	start time.Time // of the current measure
	bytes int64     // written since start
	frame int       // the size in use
	lowat int       // the TCP_NOTSENT_LOWAT in use
}

// newPacer returns a pacer that sets TCP_NOTSENT_LOWAT with setLowat (if
// not nil): fixed at lowat if that is positive, else following the rate.
func newPacer(setLowat func(int), lowat int) *pacer {
	p := &pacer{frame: minFrame, lowat: minLowat}
	if setLowat != nil && lowat > 0 {
		setLowat(lowat)
		setLowat = nil
	}
	if p.setLowat = setLowat; setLowat != nil {
		setLowat(p.lowat)
	}
	return p
}

// size returns the frame size to use now.
func (p *pacer) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frame
}

// adjustLowat sets TCP_NOTSENT_LOWAT to want when it differs from the
// value in use by more than a quarter, to spare system calls; p.mu is
// held.
func (p *pacer) adjustLowat(want int) {
	if p.setLowat == nil || want*4 > p.lowat*3 && want*4 < p.lowat*5 {
		return
	}
	p.lowat = want
	p.setLowat(want)
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
		p.adjustLowat(minLowat)
	case elapsed >= rateEvery:
		p.bytes += int64(n)
		rate := float64(p.bytes) / elapsed.Seconds()
		p.frame = min(max(int(rate*frameTime.Seconds()), minFrame), maxFrame)
		p.adjustLowat(min(max(int(rate*lowatTime.Seconds()), minLowat), maxLowat))
		p.start, p.bytes = now, 0
	default:
		p.bytes += int64(n)
	}
}
