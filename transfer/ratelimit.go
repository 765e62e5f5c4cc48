package transfer

import (
	"context"
	"io"
	"math"
	"time"

	"golang.org/x/time/rate"
)

// A Send with SendOptions.LimitRate shares one token bucket, a
// rate.Limiter, among all its data streams: each stream waits for the
// bytes it is about to write, and the bucket queues the waits in turn.
//
// A stream writes at most one burst per wait and then waits again, behind
// the others: each of n streams gets its turn every n/20 s (3.2 s with the
// most streams), far within the receiver's I/O timeout of 30 s, whatever
// the rate. (Below 20 bytes a second a burst is one byte and a turn comes
// every n/rate seconds: rates no one asks for.)

// limitBurstDivisor sets the bucket's size: 1/20 s of the rate (50 ms of
// sending). The bytes written in any interval of T seconds are at most
// rate*T + burst, so over any second the average is within 5% of the
// limit. No floor such as 16 KiB: at 64 KiB/s it would let the first second
// carry 25% too much, and what a small burst costs, more and smaller
// writes, is 20 writes a second whatever the rate.
const limitBurstDivisor = 20

// newSendLimiter returns the bucket of a Send limited to bytesPerSecond,
// full at first and holding 1/limitBurstDivisor of a second's bytes, or
// nil (no limit) if bytesPerSecond is not positive.
func newSendLimiter(bytesPerSecond int64) *rate.Limiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	burst := max(ceilDiv(bytesPerSecond, limitBurstDivisor), 1)
	return rate.NewLimiter(rate.Limit(bytesPerSecond), int(min(burst, math.MaxInt)))
}

// writeLimited writes p to w at most lim's burst at a time, each after
// waiting for lim, and reports every piece written to wrote (if not nil),
// so that progress moves at the rate rather than a buffer at a time. Once
// ctx is done it returns ctx's error instead of waiting; the bytes of a
// wait it cuts short go back to the bucket, as far as the streams queued
// behind it allow. A nil lim writes p at once.
func writeLimited(ctx context.Context, lim *rate.Limiter, w io.Writer, p []byte, wrote func(int)) error {
	for len(p) > 0 {
		k := len(p)
		if lim != nil {
			k = min(k, lim.Burst())
			if err := lim.WaitN(withoutDeadline{ctx}, k); err != nil {
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

// withoutDeadline hides ctx's deadline from rate.Limiter.WaitN, which
// would refuse at once, with an error of its own, a wait that ends after
// the deadline. Hidden, the wait goes on until the deadline passes and
// returns context.DeadlineExceeded, which a Send's report counts as
// cancelled, as it does for every other wait of a Send.
type withoutDeadline struct{ context.Context }

func (withoutDeadline) Deadline() (time.Time, bool) { return time.Time{}, false }

// ceilDiv is a/b rounded up, for positive a and b, without overflow.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}
