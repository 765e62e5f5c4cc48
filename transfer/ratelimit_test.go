package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The tests of the limiter run in synctest bubbles: time.Now and the
// timers rate.Limiter.WaitN starts are the bubble's, which moves on only
// when every goroutine in it waits, so a schedule is measured to the
// nanosecond without waiting for it.

// timedWriter records when each write came, since start, and how long it
// was. It keeps none of the bytes.
type timedWriter struct {
	start time.Time

	mu     sync.Mutex
	writes []timedWrite
}

type timedWrite struct {
	at time.Duration
	n  int
}

func newTimedWriter() *timedWriter { return &timedWriter{start: time.Now()} }

func (w *timedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, timedWrite{time.Since(w.start), len(p)})
	return len(p), nil
}

func (w *timedWriter) all() []timedWrite {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes)
}

// near reports whether d is want, but for what rate.Limiter loses
// counting in float64 seconds and truncating to the nanosecond.
func near(d, want time.Duration) bool {
	return d-want < time.Microsecond && want-d < time.Microsecond
}

// payTime is how long rate takes to pay for n bytes, to the nanosecond.
func payTime(n int, rate int64) time.Duration {
	return time.Duration(float64(n) / float64(rate) * float64(time.Second))
}

func TestSendLimiterBurstIsOneTwentiethOfTheRate(t *testing.T) {
	tests := []struct {
		rate  int64
		burst int // 0: no limiter at all
	}{
		{0, 0}, {-1, 0},
		{1, 1}, {20, 1}, {21, 2},
		{1000, 50},
		{4 << 20, 209716}, // 209715.2 rounded up
		{1 << 30, 53687092},
	}
	for _, tt := range tests {
		l := newSendLimiter(tt.rate)
		switch {
		case tt.burst == 0 && l != nil:
			t.Errorf("rate %d: a limiter, want none", tt.rate)
		case tt.burst != 0 && (l == nil || l.Burst() != tt.burst || int64(l.Limit()) != tt.rate):
			t.Errorf("rate %d: limiter %+v, want burst %d", tt.rate, l, tt.burst)
		}
	}
}

// TestSendLimiterReservesAtTheRate checks the schedule: how long each
// reservation waits, given when it is made.
func TestSendLimiterReservesAtTheRate(t *testing.T) {
	type take struct {
		at   time.Duration // since the start
		n    int
		wait time.Duration
	}
	ms := time.Millisecond
	tests := []struct {
		name  string
		rate  int64
		takes []take
	}{
		{"a full bucket lets one burst through, then the rest waits its share", 1000, []take{
			{0, 50, 0}, {0, 50, 50 * ms}, {0, 50, 100 * ms}, {0, 10, 110 * ms}}},
		{"a bucket left idle fills up to one burst, no more", 1000, []take{
			{0, 50, 0}, {10 * time.Second, 50, 0}, {10 * time.Second, 10, 10 * ms}}},
		{"a bucket partly refilled", 1000, []take{
			{0, 50, 0}, {20 * ms, 50, 30 * ms}}},
		{"a reservation made while others wait queues behind them", 1000, []take{
			{0, 50, 0}, {0, 50, 50 * ms}, {25 * ms, 50, 75 * ms}, {200 * ms, 50, 0}}},
		{"a third of a second a byte", 3, []take{
			{0, 1, 0}, {0, 1, 333333333}, {0, 1, 666666666}}},
		{"4 MiB/s", 4 << 20, []take{
			{0, 209716, 0}, {0, 209716, 50000190}, {0, 1, 50000190 + 238}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newSendLimiter(tt.rate)
			t0 := time.Unix(1_000_000, 0)
			for i, tk := range tt.takes {
				at := t0.Add(tk.at)
				if got := l.ReserveN(at, tk.n).DelayFrom(at); !near(got, tk.wait) {
					t.Errorf("take %d (%d bytes at %s) waits %s, want %s", i, tk.n, tk.at, got, tk.wait)
				}
			}
		})
	}
}

// TestSendLimiterKeepsAnySecondWithinFivePerCent runs several streams
// that write as fast as the limiter lets them for 10 seconds, pause 5
// seconds, and write for 10 more, and checks every one-second window of
// what they wrote: at most 5% over the rate (the bucket full at the start
// and after the pause), and, while they write, at most 5% under it. Buffers of several bursts are split into bursts;
// buffers smaller than a burst show how much goes at once after a pause.
func TestSendLimiterKeepsAnySecondWithinFivePerCent(t *testing.T) {
	several := func(burst int) int { return 3*burst + 7 }
	small := func(burst int) int { return burst/4 + 1 }
	tests := []struct {
		rate    int64
		streams int
		buf     func(burst int) int // bytes a stream gives each writeLimited
	}{
		{64 << 10, 1, several}, {64 << 10, 4, several}, {4 << 20, 4, several}, {10 << 20, 64, several}, {1000, 3, several},
		{64 << 10, 1, small}, {4 << 20, 4, small}, {1000, 3, small},
	}
	for _, tt := range tests {
		slack := ceilDiv(tt.rate, 20) // 5% of a second's bytes, rounded up to a byte
		t.Run(fmt.Sprintf("%d B/s, %d streams, writes of %d bytes", tt.rate, tt.streams, tt.buf(int(slack))), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newSendLimiter(tt.rate)
				w := newTimedWriter()
				buf := make([]byte, tt.buf(int(slack))) // only read: the streams share it
				// write runs the streams until the bubble's clock passes
				// until, and returns when the last of them stopped.
				write := func(until time.Duration) time.Duration {
					var wg sync.WaitGroup
					for range tt.streams {
						wg.Go(func() {
							for time.Since(w.start) < until {
								if err := writeLimited(t.Context(), l, w, buf, nil); err != nil {
									t.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
					return time.Since(w.start)
				}
				stopped := write(10 * time.Second)
				<-time.After(5 * time.Second) // on the bubble's clock: the bucket fills up again
				again := time.Since(w.start)
				end := write(again + 10*time.Second)

				writes := w.all()
				lo, hi := 0, 0 // writes[lo:hi] are those in the second from from
				sum := 0
				for from := time.Duration(0); from+time.Second <= end; from += 10 * time.Millisecond {
					for ; hi < len(writes) && writes[hi].at < from+time.Second; hi++ {
						sum += writes[hi].n
					}
					for ; writes[lo].at < from; lo++ {
						sum -= writes[lo].n
					}
					writing := from+time.Second <= stopped || from >= again && from+time.Second <= end
					if int64(sum) > tt.rate+slack || writing && int64(sum) < tt.rate-slack {
						t.Fatalf("%d bytes in the second from %s; want %d ± %d", sum, from, tt.rate, slack)
					}
				}
			})
		})
	}
}

// TestSendLimiterSharesOneBucketAmongConcurrentTakers: takers waiting at
// once queue behind each other, a burst's time apart, and none holds up
// the others' reservations while it waits.
func TestSendLimiterSharesOneBucketAmongConcurrentTakers(t *testing.T) {
	tests := []struct {
		rate   int64
		takers int
	}{{1000, 2}, {1000, 8}, {4 << 20, 16}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d B/s, %d takers", tt.rate, tt.takers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newSendLimiter(tt.rate)
				w := newTimedWriter()
				buf := make([]byte, l.Burst())
				var wg sync.WaitGroup
				for range tt.takers {
					wg.Go(func() {
						if err := writeLimited(t.Context(), l, w, buf, nil); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				writes := w.all()
				if len(writes) != tt.takers {
					t.Fatalf("%d writes, want %d", len(writes), tt.takers)
				}
				// One goes at once (the bucket starts full), and each other
				// a burst's time after the one before.
				for i, wr := range writes {
					if want := payTime(i*l.Burst(), tt.rate); !near(wr.at, want) {
						t.Errorf("write %d at %s, want %s: %v", i, wr.at, want, writes)
					}
				}
			})
		})
	}
}

// TestSendLimiterWaitEndsWithItsContext: a write waiting for the bucket
// returns its context's error as soon as the context ends, cancelled or
// past its deadline, and gives the bytes it waited for back to the bucket.
func TestSendLimiterWaitEndsWithItsContext(t *testing.T) {
	tests := []struct {
		name     string
		cancel   bool          // cancel the context at once (else a deadline of 10 ms)
		before   bool          // cancelled before the write starts
		want     error         // what the write returns
		returned time.Duration // when, on the bubble's clock
	}{
		{"cancelled while waiting", true, false, context.Canceled, 0},
		{"cancelled before waiting", true, true, context.Canceled, 0},
		// rate.Limiter.WaitN would refuse such a wait at once, with an
		// error of its own: the write must end as every other wait of a
		// Send does, at the deadline with context.DeadlineExceeded.
		{"a deadline sooner than the bucket pays", false, false, context.DeadlineExceeded, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newSendLimiter(1000)
				w := newTimedWriter()
				buf := make([]byte, 50)
				if err := writeLimited(t.Context(), l, w, buf, nil); err != nil { // empties the bucket
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				if !tt.cancel {
					ctx, cancel = context.WithTimeout(t.Context(), 10*time.Millisecond)
				}
				defer cancel()
				if tt.before {
					cancel()
				}
				errc := make(chan error, 1)
				go func() { errc <- writeLimited(ctx, l, w, buf, nil) }()
				if tt.cancel && !tt.before {
					synctest.Wait() // waiting for the bucket
					cancel()
				}
				err := <-errc
				if !errors.Is(err, tt.want) {
					t.Fatalf("write returned %v, want %v", err, tt.want)
				}
				if d := time.Since(w.start); d != tt.returned {
					t.Errorf("write returned after %s, want %s", d, tt.returned)
				}
				// The bytes it waited for are back: the next write goes
				// when the bucket has paid for its own 50 bytes.
				if err := writeLimited(t.Context(), l, w, buf, nil); err != nil {
					t.Fatal(err)
				}
				writes := w.all()
				if len(writes) != 2 || !near(writes[1].at, 50*time.Millisecond) {
					t.Errorf("writes %v, want the second at 50ms", writes)
				}
			})
		})
	}
}

func TestSendLimiterWriteGoesOneBurstAtATime(t *testing.T) {
	tests := []struct {
		name    string
		rate    int64
		size    int
		pieces  int
		elapsed time.Duration // on the bubble's clock
	}{
		{"no limit: one write", 0, 1000, 1, 0},
		{"within the burst: one write, at once", 1000, 50, 1, 0},
		{"twenty bursts", 1000, 1000, 20, 950 * time.Millisecond},
		{"a short last piece", 1000, 1010, 21, 960 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newSendLimiter(tt.rate)
				t0 := time.Now()
				p := randomBytes(tt.size, 3)
				var got bytes.Buffer
				var pieces []int
				if err := writeLimited(t.Context(), l, &got, p, func(n int) { pieces = append(pieces, n) }); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Bytes(), p) {
					t.Errorf("wrote %d bytes that differ from the %d given", got.Len(), len(p))
				}
				sum := 0
				for _, n := range pieces {
					sum += n
					if l != nil && n > l.Burst() {
						t.Errorf("a piece of %d bytes, more than the burst of %d", n, l.Burst())
					}
				}
				if len(pieces) != tt.pieces || sum != tt.size {
					t.Errorf("progress reported %v, want %d pieces adding up to %d", pieces, tt.pieces, tt.size)
				}
				if d := time.Since(t0); !near(d, tt.elapsed) {
					t.Errorf("took %s on the clock, want %s", d, tt.elapsed)
				}
			})
		})
	}
}

// TestSendLimitRateHoldsAllStreamsToOneRate sends 2 MiB over four
// parallel streams limited to 4 MiB/s together: it must take at least as
// long as the bucket needs to pay for all but its first burst (one bucket
// per stream would be four times as fast), and deliver every file.
func TestSendLimitRateHoldsAllStreamsToOneRate(t *testing.T) {
	const rate = 4 << 20
	src := t.TempDir()
	tree := map[string]string{}
	for i := range 4 {
		tree[fmt.Sprintf("dir/f%d.bin", i)] = string(randomBytes(512<<10, uint64(i)))
	}
	writeTree(t, src, tree)
	m := scan(t, filepath.Join(src, "dir"))
	_, size := m.Totals()
	c, h := startPair(t, hubOptions{})
	var wrote atomic.Int64
	opt := SendOptions{Parallel: 4, LimitRate: rate, Observer: Observer{Wrote: func(n int) { wrote.Add(int64(n)) }}}

	start := time.Now()
	rep, err := send(t, c, m, opt)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	checkDelivered(t, m, rep, h.dir)
	if wrote.Load() != size {
		t.Errorf("Observer saw %d bytes, want %d", wrote.Load(), size)
	}
	burst := int64(newSendLimiter(rate).Burst())
	least := time.Duration(float64(size-burst)/rate*float64(time.Second)) - 10*time.Millisecond
	if elapsed < least {
		t.Errorf("%d bytes at %d B/s took %s, want at least %s", size, rate, elapsed, least)
	}
	t.Logf("%d bytes in %s: %.2f MiB/s, limit %d MiB/s", size, elapsed, float64(size)/elapsed.Seconds()/(1<<20), rate>>20)
}
