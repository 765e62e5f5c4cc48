package transfer

import (
	"context"
	"io"
	"math"
	"math/bits"
	"sync"
	"time"
)

// A Send with SendOptions.LimitRate shares one token bucket among all its
// data streams: each stream reserves the bytes it is about to write, and
// waits until the bucket has paid for them. The bucket is kept as a
// generic cell rate algorithm (as client's pacer is): one instant, paid,
// up to which every byte reserved so far has been paid for at the rate.
//
// A stream writes at most one burst per reservation and then reserves
// again, behind the others: each of n streams gets its turn every n/20 s
// (3.2 s with the most streams), far within the receiver's I/O timeout of
// 30 s, whatever the rate. (Below 20 bytes a second a burst is one byte
// and a turn comes every n/rate seconds: rates no one asks for.)

// limitBurstDivisor sets the bucket's size: 1/20 s of the rate (50 ms of
// sending). The bytes written in any interval of T seconds are at most
// rate*T + burst, so over any second the average is within 5% of the
// limit. No floor such as 16 KiB: at 64 KiB/s it would let the first second
// carry 25% too much, and what a small burst costs, more and smaller
// writes, is 20 writes a second whatever the rate.
const limitBurstDivisor = 20

// rateLimiter lets at most rate bytes a second, plus a burst, through
// wait. A nil *rateLimiter lets everything through at once.
type rateLimiter struct {
	rate   int64         // bytes per second
	burst  int64         // bytes that may go at once after a pause; also the largest write
	window time.Duration // the time the rate takes to pay for burst bytes
	clock  clock

	mu   sync.Mutex
	paid time.Time // every byte reserved so far is paid for at this instant
}

// newRateLimiter returns a limiter of rate bytes a second, or nil (no
// limit) if rate is not positive.
func newRateLimiter(rate int64, c clock) *rateLimiter {
	if rate <= 0 {
		return nil
	}
	l := &rateLimiter{rate: rate, burst: max(ceilDiv(rate, limitBurstDivisor), 1), clock: c}
	l.window = l.duration(l.burst)
	return l
}

// write writes p to w at most l.burst bytes at a time, each after waiting
// for the bucket, and reports every piece written to wrote (if not nil),
// so that progress moves at the rate rather than a buffer at a time. Once
// ctx is done it returns ctx's error instead of waiting. A nil l writes p
// at once.
func (l *rateLimiter) write(ctx context.Context, w io.Writer, p []byte, wrote func(int)) error {
	for len(p) > 0 {
		k := len(p)
		if l != nil {
			k = int(min(int64(k), l.burst))
			if err := l.wait(ctx, k); err != nil {
				return err
			}
		}
		if _, err := w.Write(p[:k]); err != nil {
			return err
		}
		if wrote != nil {
			wrote(k)
		}
		p = p[k:]
	}
	return nil
}

// wait reserves n bytes and returns once the bucket has paid for them, or
// with ctx's error as soon as ctx is done. The lock is held only to
// reserve, never while waiting, so that other streams reserve behind this
// one meanwhile. Bytes reserved by a wait that was cancelled are not given
// back: they cost the others at most one burst's time, 50 ms.
func (l *rateLimiter) wait(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l == nil {
		return nil
	}
	d := l.reserve(l.clock.Now(), int64(n))
	if d <= 0 {
		return nil
	}
	fired, stop := l.clock.NewTimer(d)
	select {
	case <-fired:
		return nil
	case <-ctx.Done():
		stop()
		return ctx.Err()
	}
}

// reserve takes n bytes from the bucket at now and returns how long the
// caller must wait before writing them (zero or less: at once).
func (l *rateLimiter) reserve(now time.Time, n int64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	// A bucket left idle fills up to burst, and no further: the bytes of a
	// full bucket were paid for a window ago.
	start := now.Add(-l.window)
	if l.paid.After(start) {
		start = l.paid
	}
	l.paid = start.Add(l.duration(n))
	return l.paid.Sub(now)
}

// duration is the time the rate takes to pay for n bytes, rounded up so
// that rounding never lets a byte through early.
func (l *rateLimiter) duration(n int64) time.Duration {
	hi, lo := bits.Mul64(uint64(n), uint64(time.Second))
	if hi >= uint64(l.rate) {
		return math.MaxInt64 // centuries: the quotient would not fit
	}
	q, r := bits.Div64(hi, lo, uint64(l.rate))
	if r > 0 {
		q++
	}
	return time.Duration(min(q, math.MaxInt64))
}

// ceilDiv is a/b rounded up, for positive a and b, without overflow.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}

// clock is the time as the rate limiter sees it; tests replace it.
type clock interface {
	Now() time.Time
	// NewTimer returns a channel that receives once d has passed, and a
	// function that stops the timer.
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

// systemClock is the real time.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}
