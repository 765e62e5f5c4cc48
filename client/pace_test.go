package client

import (
	"testing"
	"time"
)

// TestPaceStaysWithinTheBucket checks the schedule on a clock of the
// test's: with rate r and burst b, the first b/2 messages go at once and
// every later one waits its share, so that n messages never need more than
// the hub's bucket holds.
func TestPaceStaysWithinTheBucket(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	p := newPace(20, 100)
	var waits []time.Duration
	for range 200 {
		waits = append(waits, p.ReserveN(t0, 1).DelayFrom(t0))
	}
	for i, w := range waits[:50] {
		if w != 0 {
			t.Fatalf("message %d waits %s inside the burst", i, w)
		}
	}
	// Message i (from 0) is due at i/20 s, less the 50 that the burst lets
	// go at once. rate.Limiter counts in float64 seconds and truncates to
	// the nanosecond.
	for i := 50; i < 200; i++ {
		want := time.Duration(i-49) * (time.Second / 20)
		if d := waits[i]; d < want-time.Microsecond || d > want {
			t.Fatalf("message %d waits %s, want %s", i, d, want)
		}
	}
	// A minute later, the burst is back, and no more.
	later := t0.Add(time.Minute)
	for i := range 51 {
		if d := p.ReserveN(later, 1).DelayFrom(later); (i < 50) != (d == 0) {
			t.Fatalf("message %d of a burst after a pause waits %s", i, d)
		}
	}
}

func TestPaceWithoutAnnouncedRateNeverWaits(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	for _, burst := range []int{0, 1, 100} {
		p := newPace(0, burst)
		for i := range 1000 {
			if d := p.ReserveN(t0, 1).DelayFrom(t0); d != 0 {
				t.Fatalf("burst %d: message %d waits %s with no announced rate", burst, i, d)
			}
		}
	}
}
