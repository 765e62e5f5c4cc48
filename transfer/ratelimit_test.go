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
	"time"
)

// fakeClock is a clock that moves only when the test says so. Every timer
// it starts is announced on armed, so a test can wait until a taker is
// waiting instead of sleeping.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	armed  chan time.Duration
	auto   bool // each timer moves the clock to its end and fires at once
}

type fakeTimer struct {
	at      time.Time
	c       chan time.Time
	stopped bool
	fired   bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_000_000, 0), armed: make(chan time.Duration, 1024)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := &fakeTimer{c: make(chan time.Time, 1)}
	c.mu.Lock()
	t.at = c.now.Add(d)
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	c.armed <- d
	if c.auto {
		c.advance(d)
	}
	return t.c, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped && !t.fired
		t.stopped = true
		return was
	}
}

// advance moves the clock on by d and fires every timer that is due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if !t.stopped && !t.fired && !t.at.After(c.now) {
			t.fired = true
			t.c <- c.now
		}
	}
}

// stoppedTimers counts the timers stopped before they fired.
func (c *fakeClock) stoppedTimers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if t.stopped && !t.fired {
			n++
		}
	}
	return n
}

// waitArmed returns the duration of the next timer started, failing the
// test if none starts within eventTimeout.
func (c *fakeClock) waitArmed(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.armed:
		return d
	case <-time.After(eventTimeout):
		t.Fatal("no taker started waiting")
		return 0
	}
}

func waitErr(t *testing.T, errc <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(eventTimeout):
		t.Fatalf("%s did not return", what)
		return nil
	}
}

func TestRateLimiterBurstIsOneTwentiethOfTheRate(t *testing.T) {
	tests := []struct {
		rate  int64
		burst int64 // 0: no limiter at all
	}{
		{0, 0}, {-1, 0},
		{1, 1}, {20, 1}, {21, 2},
		{1000, 50},
		{4 << 20, 209716}, // 209715.2 rounded up
		{1 << 30, 53687092},
	}
	for _, tt := range tests {
		l := newRateLimiter(tt.rate, newFakeClock())
		switch {
		case tt.burst == 0 && l != nil:
			t.Errorf("rate %d: a limiter, want none", tt.rate)
		case tt.burst != 0 && (l == nil || l.burst != tt.burst):
			t.Errorf("rate %d: limiter %+v, want burst %d", tt.rate, l, tt.burst)
		}
	}
}

// TestRateLimiterReservesAtTheRate checks the schedule: how long each
// reservation waits, given when it is made.
func TestRateLimiterReservesAtTheRate(t *testing.T) {
	type take struct {
		at   time.Duration // since the start
		n    int64
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
		{"waits are rounded up, never down", 3, []take{
			{0, 1, 0}, {0, 1, 333333334}, {0, 1, 2 * 333333334}}},
		{"4 MiB/s", 4 << 20, []take{
			{0, 209716, 0}, {0, 209716, 50000191}, {0, 1, 50000191 + 239}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			l := newRateLimiter(tt.rate, clk)
			t0 := clk.Now()
			for i, tk := range tt.takes {
				if got := max(l.reserve(t0.Add(tk.at), tk.n), 0); got != tk.wait {
					t.Errorf("take %d (%d bytes at %s) waits %s, want %s", i, tk.n, tk.at, got, tk.wait)
				}
			}
		})
	}
}

// TestRateLimiterKeepsAnySecondWithinFivePerCent runs several streams
// that each write as soon as the bucket lets them, on the reservation
// schedule alone, and checks every one-second window of what they wrote:
// at most the rate plus one burst, and, once going, at least the rate
// less one burst.
func TestRateLimiterKeepsAnySecondWithinFivePerCent(t *testing.T) {
	tests := []struct {
		rate    int64
		streams int
	}{{64 << 10, 1}, {64 << 10, 4}, {4 << 20, 4}, {10 << 20, 64}, {1000, 3}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d B/s, %d streams", tt.rate, tt.streams), func(t *testing.T) {
			clk := newFakeClock()
			l := newRateLimiter(tt.rate, clk)
			t0 := clk.Now()
			type write struct {
				at time.Duration
				n  int64
			}
			var writes []write
			ready := make([]time.Duration, tt.streams) // when each stream may reserve next
			for range 40 * limitBurstDivisor {         // 40 seconds' worth of bursts
				s := slices.Index(ready, slices.Min(ready))
				at := ready[s] + max(l.reserve(t0.Add(ready[s]), l.burst), 0)
				writes = append(writes, write{at, l.burst})
				ready[s] = at
			}
			end := writes[len(writes)-1].at
			for from := time.Duration(0); from+time.Second <= end; from += 10 * time.Millisecond {
				var sum int64
				for _, w := range writes {
					if w.at >= from && w.at < from+time.Second {
						sum += w.n
					}
				}
				if sum > tt.rate+l.burst || sum < tt.rate-l.burst {
					t.Fatalf("%d bytes in the second from %s; want %d ± %d", sum, from, tt.rate, l.burst)
				}
			}
		})
	}
}

// TestRateLimiterSharesOneBucketAmongConcurrentTakers: takers waiting at
// once queue behind each other, a burst's time apart, and none holds up
// the others' reservations while it waits.
func TestRateLimiterSharesOneBucketAmongConcurrentTakers(t *testing.T) {
	tests := []struct {
		rate   int64
		takers int
	}{{1000, 2}, {1000, 8}, {4 << 20, 16}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d B/s, %d takers", tt.rate, tt.takers), func(t *testing.T) {
			clk := newFakeClock()
			l := newRateLimiter(tt.rate, clk)
			errc := make(chan error, tt.takers)
			for range tt.takers {
				go func() { errc <- l.wait(context.Background(), int(l.burst)) }()
			}
			// One goes at once (the bucket starts full); each other starts a
			// timer, all while the first timers are still running.
			if err := waitErr(t, errc, "the taker of the full bucket"); err != nil {
				t.Fatal(err)
			}
			var waits []time.Duration
			for range tt.takers - 1 {
				waits = append(waits, clk.waitArmed(t))
			}
			slices.Sort(waits)
			for i, d := range waits {
				if want := time.Duration(i+1) * l.window; d != want {
					t.Errorf("waits %v; want multiples of %s, 1 to %d", waits, l.window, tt.takers-1)
					break
				}
			}
			for i := range tt.takers - 1 {
				clk.advance(l.window)
				if err := waitErr(t, errc, fmt.Sprintf("taker %d", i+2)); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestRateLimiterWaitReturnsAtOnceWhenCancelled(t *testing.T) {
	tests := []struct {
		name   string
		before bool // cancelled before the wait starts
	}{
		{"cancelled while waiting", false},
		{"cancelled before waiting", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			l := newRateLimiter(1000, clk)
			if err := l.wait(context.Background(), 50); err != nil { // empties the bucket
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.before {
				cancel()
			}
			errc := make(chan error, 1)
			go func() { errc <- l.wait(ctx, 50) }()
			if !tt.before {
				if d := clk.waitArmed(t); d != 50*time.Millisecond {
					t.Errorf("waits %s, want 50ms", d)
				}
				cancel()
			}
			// The clock never moves: only the cancellation can end the wait.
			if err := waitErr(t, errc, "the cancelled wait"); !errors.Is(err, context.Canceled) {
				t.Fatalf("wait returned %v, want context.Canceled", err)
			}
			if !tt.before && clk.stoppedTimers() != 1 {
				t.Error("the cancelled wait left its timer running")
			}
			if tt.before && len(clk.armed) != 0 {
				t.Error("a wait already cancelled started a timer")
			}
		})
	}
}

func TestRateLimiterWriteGoesOneBurstAtATime(t *testing.T) {
	tests := []struct {
		name    string
		rate    int64
		size    int
		pieces  int
		elapsed time.Duration // on the limiter's clock
	}{
		{"no limit: one write", 0, 1000, 1, 0},
		{"within the burst: one write, at once", 1000, 50, 1, 0},
		{"twenty bursts", 1000, 1000, 20, 950 * time.Millisecond},
		{"a short last piece", 1000, 1010, 21, 960 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			clk.auto = true
			l := newRateLimiter(tt.rate, clk)
			t0 := clk.Now()
			p := randomBytes(tt.size, 3)
			var got bytes.Buffer
			var pieces []int
			if err := l.write(context.Background(), &got, p, func(n int) { pieces = append(pieces, n) }); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), p) {
				t.Errorf("wrote %d bytes that differ from the %d given", got.Len(), len(p))
			}
			sum := 0
			for _, n := range pieces {
				sum += n
				if l != nil && int64(n) > l.burst {
					t.Errorf("a piece of %d bytes, more than the burst of %d", n, l.burst)
				}
			}
			if len(pieces) != tt.pieces || sum != tt.size {
				t.Errorf("progress reported %v, want %d pieces adding up to %d", pieces, tt.pieces, tt.size)
			}
			if d := clk.Now().Sub(t0); d != tt.elapsed {
				t.Errorf("took %s on the clock, want %s", d, tt.elapsed)
			}
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
	burst := newRateLimiter(rate, systemClock{}).burst
	least := time.Duration(float64(size-burst)/rate*float64(time.Second)) - 10*time.Millisecond
	if elapsed < least {
		t.Errorf("%d bytes at %d B/s took %s, want at least %s", size, rate, elapsed, least)
	}
	t.Logf("%d bytes in %s: %.2f MiB/s, limit %d MiB/s", size, elapsed, float64(size)/elapsed.Seconds()/(1<<20), rate>>20)
}
