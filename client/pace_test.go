package client

import (
	"testing"
	"time"
)

// TestPacerStaysWithinTheBucket checks the schedule, not the clock: with
// rate r and burst b, the first b/2 messages go at once and every later
// one waits its share, so that n messages never need more than the hub's
// bucket holds.
func TestPacerStaysWithinTheBucket(t *testing.T) {
	p := newPacer(20, 100)
	var waits []time.Duration
	for range 200 {
		waits = append(waits, p.delay())
	}
	for i, w := range waits[:50] {
		if w != 0 {
			t.Fatalf("message %d waits %s inside the burst", i, w)
		}
	}
	// Message i (from 0) is due at i/20 s, minus the slack of 49 intervals.
	for i := 50; i < 200; i++ {
		want := time.Duration(i-49) * (time.Second / 20)
		if d := waits[i]; d < want-10*time.Millisecond || d > want+10*time.Millisecond {
			t.Fatalf("message %d waits %s, want about %s", i, d, want)
		}
	}
	if newPacer(0, 0).delay() != 0 {
		t.Error("no announced rate must mean no waiting")
	}
}
